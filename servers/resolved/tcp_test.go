package main

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libproto/protoproto"
	"armos/libproto/prototest"
	"armos/servers/resolved/dns"
	"armos/servers/tcpd/server"
)

// bigAnswer is the upstream's answer to q: 120 A records for big.test
// (about 2 KB: over any UDP size a client offers), or NXDOMAIN.
func bigAnswer(t *testing.T, q *dns.Message) []byte {
	m := &dns.Message{ID: q.ID, Flags: dns.FlagQR | dns.FlagRD | dns.FlagRA, Questions: q.Questions}
	if q.Questions[0].Name.EqualFold(dns.MustParseName("web.test")) && q.Questions[0].Type == dns.TypeA {
		m.Answers = append(m.Answers, dns.NewA(q.Questions[0].Name, 300, prototest.AddrB.Addr()))
	} else if q.Questions[0].Name.EqualFold(dns.MustParseName("big.test")) && q.Questions[0].Type == dns.TypeA {
		for i := range 120 {
			m.Answers = append(m.Answers, dns.NewA(q.Questions[0].Name, 300, netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(1 + i%250)})))
		}
	} else {
		m.Flags = m.Flags.WithRCode(dns.RCodeNameError)
	}
	b, err := m.Pack()
	require.NoError(t, err)
	return b
}

// TestTruncatedAnswersOverTCP: with tcpd on both netds of a pair, an
// upstream (on B) whose UDP answer is truncated (TC) is asked again over
// TCP by resolved (on A), and the application's Go resolver, told TC by
// resolved (the answer is over its UDP size), asks resolved over TCP on
// 127.0.0.1:53 (libsocket.DialDNS) and gets all 120 addresses. Then Go's
// HTTP client fetches http://web.test/ by name, through resolved and tcpd.
func TestTruncatedAnswersOverTCP(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, h := range []*prototest.Host{p.A, p.B} {
		s, err := server.New(h.Register(t, protoproto.ProtoTCP), server.Config{})
		require.NoError(t, err)
		rctx, stop := context.WithCancel(context.Background())
		go s.Run(rctx)
		t.Cleanup(stop)
	}

	// The upstream on B: UDP answers truncated, TCP answers whole.
	up := p.B.Sockets(t)
	pc, err := up.ListenPacket(ctx, netip.MustParseAddrPort("0.0.0.0:53"))
	require.NoError(t, err)
	var udpQueries, tcpQueries atomic.Int64
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			udpQueries.Add(1)
			q, err := dns.Parse(buf[:n])
			if err != nil {
				continue
			}
			m := &dns.Message{ID: q.ID, Flags: dns.FlagQR | dns.FlagRD | dns.FlagRA | dns.FlagTC, Questions: q.Questions}
			b, _ := m.Pack()
			pc.WriteTo(b, from)
		}
	}()
	tln, err := up.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:53"), 4)
	require.NoError(t, err)
	go func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				var hdr [2]byte
				for {
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						return
					}
					qb := make([]byte, binary.BigEndian.Uint16(hdr[:]))
					if _, err := io.ReadFull(c, qb); err != nil {
						return
					}
					tcpQueries.Add(1)
					q, err := dns.Parse(qb)
					if err != nil {
						return
					}
					a := bigAnswer(t, q)
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(a))), a...))
				}
			}(c)
		}
	}()

	// resolved on A, asking B, serving UDP and TCP on 0.0.0.0:53.
	opts, err := parseFlags([]string{"-upstream", prototest.AddrB.Addr().String()}, io.Discard)
	require.NoError(t, err)
	client := p.A.Sockets(t)
	d, err := start(ctx, client, opts)
	require.NoError(t, err)
	t.Cleanup(d.close)
	ln, err := client.ListenTCP(ctx, opts.listen, maxStreamClients)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go d.acceptTCP(ln)

	r := p.A.Sockets(t).Resolver()
	ips, err := r.LookupNetIP(ctx, "ip4", "big.test")
	require.NoError(t, err)
	assert.Len(t, ips, 120, "every address, fetched over TCP twice")
	assert.NotZero(t, udpQueries.Load())
	assert.NotZero(t, tcpQueries.Load(), "resolved asked the upstream over TCP")
	c := d.srv.Counters()
	assert.NotZero(t, c.Upstream.Truncated)
	assert.NotZero(t, c.Upstream.TCPTries)
	assert.Zero(t, c.Lookups.FailedTruncated)
	assert.NotZero(t, c.Clients.TruncatedTC, "the application was told to use TCP")
	assert.NotZero(t, d.streamClients.Load(), "and did, to resolved")

	// Go's HTTP client, unchanged, fetches a URL by name: the name through
	// resolved, the connection through tcpd.
	ws, err := p.B.Sockets(t).Listen(ctx, "tcp", ":80")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served to "+r.Host) })}
	go srv.Serve(ws)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{DialContext: p.A.Sockets(t).DialContext}}
	resp, err := hc.Get("http://web.test/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "served to web.test", string(body))
}
