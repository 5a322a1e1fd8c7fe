package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libproto/prototest"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	sp "armos/libsocket/streamproto"
	"armos/servers/tcpd/server"
)

// streamPair is two netds, each with a tcpd serving the stream protocol
// and a libsocket client.
type streamPair struct {
	p          *prototest.Pair
	a, b       *tcpd
	appA, appB *libsocket.Client
}

func newStreamPair(t *testing.T) *streamPair {
	p := prototest.NewPair(t, prototest.Options{})
	return &streamPair{p: p,
		a: startTCPD(t, p.A, server.Config{TCP: testTCP()}), b: startTCPD(t, p.B, server.Config{TCP: testTCP()}),
		appA: p.A.Sockets(t), appB: p.B.Sockets(t)}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestStreamBulkBothWaysWithHalfClose: an application on A connects to a
// listener on B through libsocket; 0 B, 1 B and 3 MiB go each way
// byte-exact, each side half-closing (CloseWrite) and reading the other's
// EOF; the addresses are the connection's.
func TestStreamBulkBothWaysWithHalfClose(t *testing.T) {
	sp2 := newStreamPair(t)
	ctx := ctxFor(t)
	ln, err := sp2.appB.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:5001"), 4)
	require.NoError(t, err)
	defer ln.Close()
	assert.Equal(t, "0.0.0.0:5001", ln.Addr().String())

	for _, size := range []int{0, 1, 3 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			up, down := random(t, size), random(t, size/2+7)
			srvErr := make(chan error, 1)
			go func() {
				c, err := ln.AcceptTCP()
				if err != nil {
					srvErr <- err
					return
				}
				defer c.Close()
				got, err := io.ReadAll(c) // until A's CloseWrite
				if err == nil && !bytes.Equal(got, up) {
					err = fmt.Errorf("B read %d bytes, not A's %d", len(got), len(up))
				}
				if err == nil {
					_, err = c.Write(down)
				}
				if err == nil {
					err = c.CloseWrite()
				}
				srvErr <- err
			}()
			c, err := sp2.appA.DialTCP(ctx, netip.AddrPortFrom(prototest.AddrB.Addr(), 5001))
			require.NoError(t, err)
			defer c.Close()
			local, remote := c.AddrPorts()
			assert.Equal(t, prototest.AddrA.Addr(), local.Addr())
			assert.Equal(t, "10.99.0.2:5001", remote.String())
			_, err = c.Write(up)
			require.NoError(t, err)
			require.NoError(t, c.CloseWrite())
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			require.NoError(t, <-srvErr)
			assert.True(t, bytes.Equal(got, down), "A read %d bytes, want %d", len(got), len(down))
			_, err = c.Write([]byte("x"))
			require.ErrorIs(t, err, sockproto.EPIPE, "a write after CloseWrite")
		})
	}
	st := sp2.a.Stats().Stream
	assert.Zero(t, st.Violations)
	assert.EqualValues(t, 3, st.Connects)
	assert.EqualValues(t, 3, sp2.b.Stats().Stream.Accepted)
	// The applications' messages mostly ran on their readers while the
	// loop waited (tryDirect), and every byte still came through in order.
	assert.NotZero(t, sp2.a.Stats().Direct+sp2.b.Stats().Direct, "no stream message ran directly")
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// TestStreamErrorsAreNetOpErrors: a refused connection, a deadline, a
// closed connection and a port in use are what Go code expects from
// package net.
func TestStreamErrorsAreNetOpErrors(t *testing.T) {
	sp2 := newStreamPair(t)
	ctx := ctxFor(t)

	_, err := sp2.appA.DialTCP(ctx, netip.MustParseAddrPort("10.99.0.2:9"))
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "dial", oe.Op)
	assert.Equal(t, "tcp", oe.Net)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.ErrorIs(t, err, sockproto.ECONNREFUSED)

	ln, err := sp2.appB.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:80"), 0)
	require.NoError(t, err)
	_, err = sp2.appB.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:80"), 0)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)

	// Accept's deadline, then a connection accepted after it.
	require.NoError(t, ln.SetDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = ln.Accept()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	require.NoError(t, ln.SetDeadline(time.Time{}))

	c, err := sp2.appA.DialTCP(ctx, netip.MustParseAddrPort("10.99.0.2:80"))
	require.NoError(t, err)
	s, err := ln.Accept()
	require.NoError(t, err)
	assert.Equal(t, c.LocalAddr().String(), s.RemoteAddr().String())

	// A read deadline ends a read; the connection stays usable, and a
	// deadline moved while a read waits takes effect at once.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	_, err = c.Read(make([]byte, 10))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		readErr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.SetReadDeadline(time.Now()))
	select {
	case err := <-readErr:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(prototest.Wait):
		t.Fatal("a blocked read did not see its deadline move")
	}
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	_, err = s.Write([]byte("still there"))
	require.NoError(t, err)
	buf := make([]byte, 32)
	// A passed deadline fails a read even when data waits, as in package
	// net; cleared, the data is there.
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err = c.Read(buf)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	n, err := c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "still there", string(buf[:n]))

	// The peer resets (Close with unread data): the other side's read
	// fails with ECONNRESET.
	_, err = c.Write([]byte("unread"))
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // the data reaches tcpd B (not read by the app: it is in the app's buffer or tcpd's)
	require.NoError(t, s.Close())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(prototest.Wait)))
	_, err = c.Read(buf)
	if err != io.EOF { // the data may have left tcpd for the app's buffer: then B closed gracefully
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}

	require.NoError(t, c.Close())
	_, err = c.Read(buf)
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = c.Write(buf)
	require.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, ln.Close())
	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestNetHTTPOverStreams: Go's own net/http, unchanged, serves and
// fetches over armos TCP: keep-alive requests on one connection, a body
// of 1 MiB, several clients at once.
func TestNetHTTPOverStreams(t *testing.T) {
	sp2 := newStreamPair(t)
	ctx := ctxFor(t)
	ln, err := sp2.appB.Listen(ctx, "tcp", ":80")
	require.NoError(t, err)
	big := random(t, 1<<20)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s", r.RemoteAddr) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(big) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{DialContext: sp2.appA.DialContext}, Timeout: 30 * time.Second}
	get := func(path string) []byte {
		resp, err := client.Get("http://10.99.0.2" + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return b
	}
	assert.Contains(t, string(get("/hello")), "hello 10.99.0.1:")
	assert.True(t, bytes.Equal(get("/big"), big))
	resp, err := client.Post("http://10.99.0.2/echo", "application/octet-stream", bytes.NewReader(big[:300000]))
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.True(t, bytes.Equal(b, big[:300000]))

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				resp, err := client.Get("http://10.99.0.2/hello")
				if !assert.NoError(t, err) {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	// Keep-alive: far fewer connections than requests.
	assert.Less(t, sp2.b.Stats().Stream.Accepted, uint64(43))
	assert.Zero(t, sp2.a.Stats().Stream.Violations+sp2.b.Stats().Stream.Violations)
}

// TestStreamSurvivesNetdRestart: a connection between two applications
// carries on across a restart of both netds: tcpd holds it, the
// applications' endpoints are tcpd's, and neither end sees an error
// (issue 10 item 4, through libsocket).
func TestStreamSurvivesNetdRestart(t *testing.T) {
	sp2 := newStreamPair(t)
	ctx := ctxFor(t)
	ln, err := sp2.appB.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:7"), 1)
	require.NoError(t, err)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c) // echo
			c.Close()
		}
	}()
	c, err := sp2.appA.DialTCP(ctx, netip.MustParseAddrPort("10.99.0.2:7"))
	require.NoError(t, err)
	echo := func(msg string) {
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		buf := make([]byte, len(msg))
		require.NoError(t, c.SetReadDeadline(time.Now().Add(prototest.Wait)))
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		assert.Equal(t, msg, string(buf))
	}
	echo("before the restart")
	sp2.p.Restart()
	echo("after the restart")
	echo("and again")
	require.NoError(t, c.Close())
}

// TestStreamProtocolViolations: an application that sends beyond its
// credit, a malformed message or an unknown op loses its socket (counted),
// and tcpd goes on serving others; an unknown request is answered ENOSYS.
func TestStreamProtocolViolations(t *testing.T) {
	sp2 := newStreamPair(t)
	ctx := ctxFor(t)
	ln, err := sp2.appB.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:7"), 8)
	require.NoError(t, err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	raw := func() *libipc.Conn {
		conn := libipc.NewConn(streamSocket(t, sp2.p.A))
		t.Cleanup(func() { conn.Close() })
		r, err := conn.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, sp.OpCredit, r.Op)
		return conn
	}
	connected := func() *libipc.Conn {
		conn := raw()
		var resp sp.AddrsResp
		require.NoError(t, conn.Call(ctx, sp.OpConnect, &sp.ConnectReq{Addr: sockproto.AddrFrom(netip.MustParseAddrPort("10.99.0.2:7"))}, &resp))
		return conn
	}
	gone := func(conn *libipc.Conn) {
		select {
		case <-conn.Done():
		case <-time.After(prototest.Wait):
			t.Fatal("tcpd kept a socket that broke the protocol")
		}
	}

	conn := raw()
	var unknown sp.Empty
	err = conn.Call(ctx, 99, &sp.Empty{}, &unknown)
	assert.Equal(t, sockproto.ENOSYS.Code(), libipc.CodeOf(err))
	assert.Equal(t, sockproto.ENOTCONN.Code(), libipc.CodeOf(conn.Call(ctx, sp.OpShutdown, &sp.Empty{}, &unknown)))
	require.NoError(t, conn.Close())

	conn = connected()
	require.NoError(t, conn.Send(ctx, sp.OpData, &sp.Data{Data: make([]byte, sp.MaxChunk+1)}))
	gone(conn)

	conn = connected()
	require.NoError(t, conn.Send(ctx, sp.OpCredit, &sp.Credit{Bytes: sp.MaxCreditBytes + 1, Msgs: 1}))
	gone(conn)

	conn = connected()
	require.NoError(t, conn.Send(ctx, 77, &sp.Empty{}))
	gone(conn)

	conn = raw()
	require.NoError(t, conn.Send(ctx, sp.OpData, &sp.Data{Data: []byte("not connected")}))
	gone(conn)

	assert.EqualValues(t, 4, sp2.a.Stats().Stream.Violations)

	// Others are still served.
	c, err := sp2.appA.DialTCP(ctx, netip.MustParseAddrPort("10.99.0.2:7"))
	require.NoError(t, err)
	_, err = c.Write([]byte("ok"))
	require.NoError(t, err)
	buf := make([]byte, 2)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(buf))
	c.Close()
	require.Eventually(t, func() bool { return sp2.a.Stats().Stream.Open == 0 }, prototest.Wait, 10*time.Millisecond,
		"every socket closed (open %d)", sp2.a.Stats().Stream.Open)
}

// TestStreamCloseDeliversWhatWasWritten: an application that writes and
// closes at once loses nothing: what it sent before Close reaches the
// peer, then the FIN (tcpd reads the closed endpoint to its end before
// closing the connection).
func TestStreamCloseDeliversWhatWasWritten(t *testing.T) {
	sp2 := newStreamPair(t)
	ctx := ctxFor(t)
	ln, err := sp2.appB.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:9000"), 4)
	require.NoError(t, err)
	data := random(t, 2<<20)
	for round := range 3 {
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			b, _ := io.ReadAll(c)
			c.Close()
			got <- b
		}()
		c, err := sp2.appA.DialTCP(ctx, netip.MustParseAddrPort("10.99.0.2:9000"))
		require.NoError(t, err)
		// A reply from the peer in flight while A closes: tcpd's sends to
		// a closed endpoint fail, which must not cut what A sent.
		_, err = c.Write(data)
		require.NoError(t, err)
		require.NoError(t, c.Close())
		select {
		case b := <-got:
			assert.True(t, bytes.Equal(data, b), "round %d: B read %d bytes of %d", round, len(b), len(data))
		case <-time.After(prototest.Wait):
			t.Fatal("B did not read to the end")
		}
	}
}

// TestStreamLoopback: a connection to 127.0.0.1 stays inside the host
// (netd loops it back to tcpd), from 127.0.0.1, as on Linux.
func TestStreamLoopback(t *testing.T) {
	sp2 := newStreamPair(t)
	ctx := ctxFor(t)
	ln, err := sp2.appA.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:53"), 4)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := sp2.appA.DialTCP(ctx, netip.MustParseAddrPort("127.0.0.1:53"))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "127.0.0.1", c.LocalAddr().(*net.TCPAddr).IP.String())
	msg := random(t, 100000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(msg, got))
	assert.Zero(t, sp2.b.Stats().Datagrams, "nothing crossed the link")
}

// TestCreditReturnedInBatches: tcpd gives an application's credit back
// half at a time, not after every write: eight writes of 16 KiB (the
// whole initial credit), each taken into the connection's send buffer at
// once, bring two credits of half of it each.
func TestCreditReturnedInBatches(t *testing.T) {
	sp2 := newStreamPair(t)
	ctx := ctxFor(t)
	ln, err := sp2.appB.ListenTCP(ctx, netip.MustParseAddrPort("0.0.0.0:9100"), 4)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	conn := libipc.NewConn(streamSocket(t, sp2.p.A))
	defer conn.Close()
	r, err := conn.Recv(ctx)
	require.NoError(t, err)
	var initial sp.Credit
	require.NoError(t, r.Decode(&initial))
	require.Equal(t, sp.Credit{Bytes: sp.InitialSendCreditBytes, Msgs: sp.InitialSendCreditMsgs}, initial)
	var resp sp.AddrsResp
	require.NoError(t, conn.Call(ctx, sp.OpConnect, &sp.ConnectReq{Addr: sockproto.AddrFrom(netip.MustParseAddrPort("10.99.0.2:9100"))}, &resp))
	const writes = 8
	chunk := make([]byte, sp.InitialSendCreditBytes/writes)
	for range writes {
		require.NoError(t, conn.Send(ctx, sp.OpData, &sp.Data{Data: chunk}))
	}
	var credits []sp.Credit
	for got := 0; got < sp.InitialSendCreditBytes; {
		r, err := conn.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, sp.OpCredit, r.Op)
		var c sp.Credit
		require.NoError(t, r.Decode(&c))
		credits = append(credits, c)
		got += c.Bytes
	}
	half := sp.Credit{Bytes: sp.InitialSendCreditBytes / 2, Msgs: writes / 2}
	assert.Equal(t, []sp.Credit{half, half}, credits)
}
