package libproto_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libproto"
	"armos/libproto/prototest"
	"armos/libsocket/sockproto"
	"armos/servers/netd/protosvc"
	"armos/servers/netd/wire"
)

// toy is the experimental IP protocol number the tests use (RFC 3692).
const toy = 253

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), prototest.Wait)
	t.Cleanup(cancel)
	return ctx
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// TestToyRoundTrip: a toy protocol server on netd B echoes what a toy
// client on netd A sends, for payloads up to far beyond the MTU (netd
// fragments and reassembles); the metadata a transport needs comes along.
func TestToyRoundTrip(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	srv := p.B.Register(t, toy)
	cli := p.A.Register(t, toy)
	assert.Equal(t, p.A.Addr, cli.Info().Addr)
	assert.Equal(t, 1500, cli.Info().MTU)

	go func() { // the echo server, as a protocol server would be written
		for d := range srv.Datagrams() {
			_ = srv.Send(context.Background(), &libproto.Datagram{Dst: d.Src, TTL: 32, Payload: d.Payload})
		}
	}()
	for _, n := range []int{0, 1, 1480, 1481, 4000, 65515} {
		msg := pattern(n)
		require.NoError(t, cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: msg}), "size %d", n)
		d := prototest.Recv(t, cli)
		assert.True(t, bytes.Equal(msg, d.Payload), "size %d", n)
		assert.Equal(t, p.B.Addr, d.Src)
		assert.Equal(t, p.A.Addr, d.Dst)
		assert.Equal(t, uint8(32), d.TTL)
		assert.Equal(t, 1500, d.MTU)
		assert.Equal(t, uint32(1), d.Dev)
		assert.Len(t, d.Header, 20)
	}
	b := p.B.Counters()
	assert.NotZero(t, b.IPv4.Reassembled)
	assert.NotZero(t, p.A.Counters().IPv4.TxFragmented)
	assert.Equal(t, uint64(6), p.B.Protocol(toy).Delivered)
	assert.Equal(t, uint64(6), p.A.Protocol(toy).Sent)

	// DF over the MTU is refused rather than fragmented.
	err := cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, DontFragment: true, Payload: pattern(2000)})
	require.ErrorIs(t, err, libproto.EMSGSIZE)
}

// TestToyICMPErrorQuotesTheDatagram: netd B has no owner for the protocol
// and answers a fragmented datagram with protocol unreachable; A hands the
// error, quoting the datagram's header and first bytes, to the sender.
func TestToyICMPErrorQuotesTheDatagram(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	cli := p.A.Register(t, toy)
	msg := pattern(3000)
	require.NoError(t, cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: msg}))
	e := prototest.RecvError(t, cli)
	assert.Equal(t, p.B.Addr, e.From)
	assert.Equal(t, uint8(3), e.Type)
	assert.Equal(t, uint8(2), e.Code, "protocol unreachable")
	assert.Equal(t, p.A.Addr, e.Src)
	assert.Equal(t, p.B.Addr, e.Dst)
	q := e.QuotedPayload()
	require.NotEmpty(t, q)
	assert.Equal(t, msg[:len(q)], q, "the quote starts the datagram we sent")
	assert.Equal(t, 548, len(e.Quote), "Linux's quote: 576 - 28")
	assert.Equal(t, uint64(1), p.A.Protocol(toy).ICMPErrors)
	m, err := wire.ParseICMPv4(e.Message())
	require.NoError(t, err, "the message is rebuilt with a valid checksum")
	assert.Equal(t, wire.ICMPv4ProtoUnreachable, m.Code())
	orig, err := m.Original()
	require.NoError(t, err)
	assert.Equal(t, wire.IPProtocol(toy), orig.Protocol())
	assert.Equal(t, uint64(1), p.B.Counters().IPv4.RxUnknownProtocol)
}

// TestRegistrationRefusals: one owner per number; netd's own numbers and
// the reserved ones are refused; a second Register on the same client too;
// a client that goes away frees its numbers at once.
func TestRegistrationRefusals(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	first := p.A.Dial(t)
	_, err := first.Register(ctx, toy)
	require.NoError(t, err)
	_, err = first.Register(ctx, toy)
	require.ErrorIs(t, err, libproto.EADDRINUSE)

	second := p.A.Dial(t)
	_, err = second.Register(ctx, toy)
	require.ErrorIs(t, err, libproto.EADDRINUSE)
	for _, n := range []uint8{1, 17} {
		_, err = second.Register(ctx, n)
		require.ErrorIs(t, err, libproto.EADDRINUSE, "protocol %d is netd's", n)
	}
	for _, n := range []uint8{0, 255} {
		_, err = second.Register(ctx, n)
		require.ErrorIs(t, err, libproto.EINVAL, "protocol %d", n)
	}
	assert.Equal(t, uint64(1), p.A.Protocol(toy).RefusedOwner)

	// Sending for a number one does not own is refused.
	other, err := second.Register(ctx, 254)
	require.NoError(t, err)
	require.NoError(t, other.Close(ctx))
	err = other.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: []byte("x")})
	require.ErrorIs(t, err, libproto.EACCES)
	_, ok := <-other.Datagrams()
	assert.False(t, ok, "Close closes the channels")

	// The owner goes away: the number is free.
	require.NoError(t, first.Close())
	require.Eventually(t, func() bool {
		q, err := second.Register(ctx, toy)
		return err == nil && q != nil
	}, prototest.Wait, 5*time.Millisecond)
}

// TestQueueDropsCounted: a protocol server that does not read loses the
// datagrams beyond its queues, and they are counted: by netd when the IPC
// channel is full (a burst), by libproto when the Protocol's channel is
// (RecvQueueLen). Every datagram that reached netd B's protocol is
// accounted for.
func TestQueueDropsCounted(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	srv := p.B.Register(t, toy) // never read
	cli := p.A.Register(t, toy)
	const n = libproto.RecvQueueLen + 100
	for i := range n {
		require.NoError(t, cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: []byte{byte(i)}}))
		time.Sleep(200 * time.Microsecond) // paced: the link and the IPC channel keep up
	}
	require.Eventually(t, func() bool {
		s, nd := srv.Stats(), p.B.Protocol(toy)
		return nd.Delivered+nd.DroppedFull == p.B.Counters().IPv4.RxDelivered && s.Received+s.Dropped == nd.Delivered
	}, prototest.Wait, 5*time.Millisecond, "every datagram is queued or counted as dropped")
	s, nd := srv.Stats(), p.B.Protocol(toy)
	assert.Equal(t, uint64(libproto.RecvQueueLen), s.Received, "the channel is full")
	assert.NotZero(t, s.Dropped+nd.DroppedFull)
	t.Logf("libproto %+v, netd %+v", s, nd)
}

// TestReRegisterAfterRestart: when netd restarts, the client reconnects
// and registers its numbers again; the same channels carry on.
func TestReRegisterAfterRestart(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	srvC := p.B.Dial(t)
	srv, err := srvC.Register(ctx, toy)
	require.NoError(t, err)
	cli := p.A.Register(t, toy)
	require.NoError(t, cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: []byte("before")}))
	assert.Equal(t, "before", string(prototest.Recv(t, srv).Payload))

	p.Restart()
	require.Eventually(t, func() bool { return p.B.Protocol(toy).Registered && p.A.Protocol(toy).Registered },
		prototest.Wait, 5*time.Millisecond, "both clients registered again")
	require.NoError(t, cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: []byte("after")}))
	assert.Equal(t, "after", string(prototest.Recv(t, srv).Payload))
	assert.Equal(t, uint64(1), srvC.Stats().Reconnects)
	assert.Equal(t, uint64(1), srvC.Stats().ReRegisters)
	assert.NoError(t, srv.Err())
}

// TestRefusedClientGivesUp: beyond protosvc.MaxClients netd refuses a
// connection with an ENFILE report; libproto reports ENFILE instead of
// reconnecting in a loop.
func TestRefusedClientGivesUp(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	for range protosvc.MaxClients {
		p.A.Dial(t)
	}
	c := p.A.Dial(t)
	_, err := c.Register(ctx, toy)
	require.ErrorIs(t, err, sockproto.ENFILE)
	assert.Zero(t, c.Stats().Reconnects)
	assert.Equal(t, uint64(1), p.A.Service().Stats().RefusedClients)
}

// TestReleasedDatagrams: a received datagram's bytes lie in the message
// it came in until the server releases it: held ones stay intact while
// later ones arrive, and after Release the Datagrams and messages are
// reused for new deliveries without disturbing any still held. Release
// of a Datagram libproto did not deliver does nothing.
func TestReleasedDatagrams(t *testing.T) {
	p := prototest.NewPair(t, prototest.Options{})
	ctx := ctxT(t)
	srv := p.B.Register(t, toy)
	cli := p.A.Register(t, toy)
	payload := func(round, i int) []byte {
		b := pattern(100 + 37*i)
		b[0], b[1] = byte(round), byte(i)
		return b
	}
	var held []*libproto.Datagram
	for round := range 3 {
		const n = 8
		for i := range n {
			require.NoError(t, cli.Send(ctx, &libproto.Datagram{Dst: p.B.Addr, Payload: payload(round, i)}))
		}
		var got []*libproto.Datagram
		for range n {
			got = append(got, prototest.Recv(t, srv))
		}
		for i, d := range got {
			require.True(t, bytes.Equal(payload(round, i), d.Payload), "round %d datagram %d", round, i)
			require.Len(t, d.Header, 20)
		}
		for _, d := range held { // last round's odd ones, held through this round
			require.Equal(t, byte(round-1), d.Payload[0], "a held datagram kept its bytes")
			require.True(t, bytes.Equal(payload(round-1, int(d.Payload[1])), d.Payload))
			d.Release()
		}
		held = held[:0]
		for i, d := range got {
			if i%2 == 0 {
				d.Release()
			} else {
				held = append(held, d)
			}
		}
	}
	own := &libproto.Datagram{Payload: []byte("mine")}
	own.Release()
	require.Equal(t, []byte("mine"), own.Payload)
}
