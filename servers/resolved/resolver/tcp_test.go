package resolver

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

// streamUp is a fakeUp that can also ask over TCP.
type streamUp struct {
	fakeUp
	streams []sent
}

func (f *streamUp) SendStream(a Attempt, server netip.AddrPort, query []byte) error {
	m, err := dns.Parse(query)
	if err != nil {
		panic(err)
	}
	f.streams = append(f.streams, sent{a, server, query, m})
	return f.err
}

// TestTruncatedAnswerRetriedOverTCP: an answer with TC set makes the
// engine ask the same server the same question over TCP (a new ID, a new
// 0x20 mix), and the TCP answer is the lookup's; a TCP answer truncated
// too ends it with ErrTruncated.
func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	z := newZone(a("big.test", 300, "192.0.2.80"))
	up := &streamUp{}
	var seed uint64 = 7
	e, err := New(Config{Servers: []netip.AddrPort{server2, server1},
		Rand: func() uint64 { seed = seed*6364136223846793005 + 1442695040888963407; return seed }}, newClock(), up)
	require.NoError(t, err)
	var res []Result
	e.Lookup(name("big.test"), dns.TypeA, func(r Result) { res = append(res, r) })
	require.Len(t, up.sent, 1)
	s := up.sent[0]
	e.Input(s.a, s.server, header(s.raw, dns.FlagQR|dns.FlagRA|dns.FlagTC, dns.RCodeSuccess))
	require.Empty(t, res, "no answer yet: asked again over TCP")
	require.Len(t, up.streams, 1)
	st := up.streams[0]
	assert.Equal(t, s.server, st.server, "the same server")
	assert.True(t, st.m.Questions[0].Name.EqualFold(s.m.Questions[0].Name))
	assert.Contains(t, up.done, s.a, "the UDP try is over")
	e.Input(st.a, st.server, z.respond(st.raw))
	require.Len(t, res, 1)
	assert.Equal(t, dns.RCodeSuccess, res[0].RCode)
	require.Len(t, res[0].Answer, 1)
	c := e.Counters()
	assert.Equal(t, uint64(1), c.Upstream.Truncated)
	assert.Equal(t, uint64(1), c.Upstream.TCPTries)
	assert.Zero(t, c.Lookups.FailedTruncated)

	// Truncated over TCP as well: SERVFAIL with ErrTruncated.
	res = nil
	e.Lookup(name("huge.test"), dns.TypeA, func(r Result) { res = append(res, r) })
	s = up.sent[len(up.sent)-1]
	e.Input(s.a, s.server, header(s.raw, dns.FlagQR|dns.FlagRA|dns.FlagTC, dns.RCodeSuccess))
	st = up.streams[len(up.streams)-1]
	e.Input(st.a, st.server, header(st.raw, dns.FlagQR|dns.FlagRA|dns.FlagTC, dns.RCodeSuccess))
	require.Len(t, res, 1)
	assert.ErrorIs(t, res[0].Err, ErrTruncated)
	assert.Equal(t, uint64(1), e.Counters().Lookups.FailedTruncated)
}

// TestTCPFallbackTransport: the transport's TCP try frames the query with
// its length, reads one framed answer and delivers it; Done closes a try
// still waiting.
func TestTCPFallbackTransport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	server := ln.Addr().(*net.TCPAddr).AddrPort()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var hdr [2]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(hdr[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				if string(q) == "hang" {
					io.Copy(io.Discard, c)
					return
				}
				c.Write(append([]byte{0, byte(len(q) + 7)}, append([]byte("answer:"), q...)...))
			}()
		}
	}()
	got := make(chan string, 2)
	udp := NewUDPTransport(NetListen, func(a Attempt, from netip.AddrPort, msg []byte) {
		got <- string(msg)
	})
	var d net.Dialer
	tr := NewTCPFallback(udp, func(ctx context.Context, s netip.AddrPort) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", s.String())
	})
	require.NoError(t, tr.SendStream(1, server, []byte("query")))
	select {
	case m := <-got:
		assert.Equal(t, "answer:query", m)
	case <-time.After(10 * time.Second):
		t.Fatal("no answer over TCP")
	}
	require.NoError(t, tr.SendStream(2, server, []byte("hang")))
	time.Sleep(50 * time.Millisecond)
	tr.Done(2) // the waiting try ends
	require.NoError(t, tr.Close())
	assert.Error(t, tr.SendStream(3, server, []byte("late")), "closed")
}
