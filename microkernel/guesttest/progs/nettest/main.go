// Command nettest runs netd's integration scenarios inside armos: a client
// of one netd's socket service (reached by name through init) exchanges
// UDP datagrams with the echo app behind another netd, across an Ethernet
// link that is a kernel channel between the two netd processes, and pings
// the echo netd. ARP is
// resolved on the way (the first datagram waits for it); datagrams larger
// than the MTU are fragmented and reassembled both ways; receives block,
// time out, or do not wait. It needs init (libipc.Bootstrap).
//
// Usage:
//
//	nettest [-service NAME] [-echo ADDR:PORT] [-run REGEXP] [-v] [-timeout D]
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"net/netip"
	"time"

	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/sockproto"
	"armos/microkernel/guesttest/progs/check"
)

var (
	service  = flag.String("service", sockproto.ServiceName, "the socket service to use")
	echoAddr = flag.String("echo", "10.99.0.2:7", "the echo server")
)

const wait = 20 * time.Second

var (
	client *libsocket.Client
	peer   netip.AddrPort
)

func main() {
	check.Add("echo-sizes", checkEchoSizes)
	check.Add("recv-blocking", checkRecvBlocking)
	check.Add("recv-timeout", checkRecvTimeout)
	check.Add("recv-nonblocking", checkRecvNonBlocking)
	check.Add("many-sockets", checkManySockets)
	check.Add("garbage", checkGarbage)
	check.Add("ping", checkPing)
	check.Main()
}

// setup connects to the socket service once.
func setup(t *check.T) *libsocket.Client {
	if client != nil {
		return client
	}
	var err error
	if peer, err = netip.ParseAddrPort(*echoAddr); err != nil {
		t.Fatalf("-echo %q: %v", *echoAddr, err)
	}
	boot, err := libipc.Bootstrap()
	if err != nil {
		t.Fatalf("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ep, err := boot.ConnectWait(ctx, *service)
	if err != nil {
		t.Fatalf("connect %s: %v", *service, err)
	}
	client = libsocket.NewClient(libipc.NewConn(ep))
	return client
}

// ctxT bounds one step; its timer ends with the step or the program.
func ctxT() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	time.AfterFunc(wait, cancel)
	return ctx
}

func payload(seq uint32, size int) []byte {
	p := make([]byte, max(size, 4))
	binary.BigEndian.PutUint32(p, seq)
	for i := 4; i < len(p); i++ {
		p[i] = byte(i*7 + int(seq))
	}
	return p
}

// socket opens a UDP socket on an ephemeral port.
func socket(t *check.T) *libsocket.Socket {
	s, err := setup(t).ListenUDP(ctxT(), netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	return s
}

// roundTrip sends msg to the echo server and waits for it to come back,
// retrying a few times (the first datagram may wait for ARP, and the
// link between the netds may drop a frame when a queue is full).
func roundTrip(t *check.T, s *libsocket.Socket, msg []byte) []byte {
	buf := make([]byte, 65536)
	for try := 0; try < 5; try++ {
		if _, err := s.SendTo(ctxT(), msg, peer); err != nil {
			t.Fatalf("sendto %d bytes: %v", len(msg), err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			n, from, err := s.RecvFromTimeout(ctxT(), buf, time.Until(deadline)+time.Millisecond)
			if errors.Is(err, sockproto.ETIMEDOUT) {
				break
			}
			if err != nil {
				t.Fatalf("recvfrom: %v", err)
			}
			if from != peer {
				t.Fatalf("datagram from %v, want %v", from, peer)
			}
			if n >= 4 && bytes.Equal(buf[:4], msg[:4]) {
				return bytes.Clone(buf[:n])
			}
		}
	}
	t.Fatalf("no echo of %d bytes after 5 tries", len(msg))
	return nil
}

// checkEchoSizes: datagrams from 4 bytes to 8000 (fragmented into six
// frames each way) come back intact.
func checkEchoSizes(t *check.T) {
	s := socket(t)
	defer s.Close()
	for i, size := range []int{4, 64, 1472, 1473, 3000, 8000} {
		msg := payload(uint32(i), size)
		if got := roundTrip(t, s, msg); !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes came back changed (%d bytes)", size, len(got))
		}
	}
}

// checkRecvBlocking: a receive with no timeout waits until the answer
// arrives.
func checkRecvBlocking(t *check.T) {
	s := socket(t)
	defer s.Close()
	roundTrip(t, s, payload(100, 10)) // ARP resolved, the path warm
	msg := payload(101, 200)
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		n, _, err := s.RecvFrom(ctxT(), buf)
		if err == nil && !bytes.Equal(buf[:n], msg) {
			err = errors.New("wrong datagram")
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := s.SendTo(ctxT(), msg, peer); err != nil {
		t.Fatalf("sendto: %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("blocking recvfrom: %v", err)
		}
	case <-time.After(wait):
		t.Fatalf("blocking recvfrom never returned")
	}
}

// checkRecvTimeout: a timed receive with nothing coming ends with
// ETIMEDOUT, not before its time.
func checkRecvTimeout(t *check.T) {
	s := socket(t)
	defer s.Close()
	start := time.Now()
	_, _, err := s.RecvFromTimeout(ctxT(), make([]byte, 100), 100*time.Millisecond)
	if !errors.Is(err, sockproto.ETIMEDOUT) {
		t.Fatalf("timed recvfrom: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("timed out after %v, before its 100ms", d)
	}
}

// checkRecvNonBlocking: a non-blocking receive is EAGAIN while nothing
// is queued and returns the datagram once it arrived.
func checkRecvNonBlocking(t *check.T) {
	s := socket(t)
	defer s.Close()
	buf := make([]byte, 100)
	if _, _, err := s.TryRecvFrom(ctxT(), buf); !errors.Is(err, sockproto.EAGAIN) {
		t.Fatalf("empty non-blocking recvfrom: %v", err)
	}
	msg := payload(7, 50)
	if _, err := s.SendTo(ctxT(), msg, peer); err != nil {
		t.Fatalf("sendto: %v", err)
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		n, _, err := s.TryRecvFrom(ctxT(), buf)
		if errors.Is(err, sockproto.EAGAIN) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("non-blocking recvfrom: %d bytes, %v", n, err)
		}
		return
	}
	t.Fatalf("the echo never arrived")
}

// checkManySockets: eight sockets echo concurrently.
func checkManySockets(t *check.T) {
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			s, err := setup(t).ListenUDP(ctxT(), netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			buf := make([]byte, 2048)
			for i := 0; i < 20; i++ {
				msg := payload(uint32(g*1000+i), 100+g*100)
				ok := false
				for try := 0; try < 5 && !ok; try++ {
					if _, err := s.SendTo(ctxT(), msg, peer); err != nil {
						errs <- err
						return
					}
					n, _, err := s.RecvFromTimeout(ctxT(), buf, 2*time.Second)
					if errors.Is(err, sockproto.ETIMEDOUT) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					ok = bytes.Equal(buf[:n], msg)
				}
				if !ok {
					errs <- errors.New("a datagram never came back")
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Errorf("socket %d: %v", g, err)
		}
	}
}

// checkGarbage: the socket service, a separate process, gets garbage on a
// connection of its own: bytes that are no envelope (answered with an
// error of ID 0), a request
// whose body is not the op's (an error reply, EBADMSG), an unknown op (an
// error reply), a message over the bound (refused by the kernel). It keeps
// serving: the echo still comes back.
func checkGarbage(t *check.T) {
	setup(t)
	boot, _ := libipc.Bootstrap()
	ep, err := boot.Connect(ctxT(), *service)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer ep.Close()
	send := func(b []byte) {
		if err := ep.Send(ctxT(), libipc.Message{Data: b}); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	send([]byte{0xde, 0xad, 0xbe, 0xef})
	send(nil)
	hdr := func(op sockproto.Op, id uint32) []byte {
		return libipc.AppendHeader(nil, libipc.Header{Version: libipc.Version, Kind: libipc.KindRequest, Op: libipc.Op(op), ID: id})
	}
	send(append(hdr(sockproto.OpBind, 7), 0xc1, 0xc1)) // 0xc1: never valid msgpack
	send(append(hdr(999, 8), 0xc0))
	if err := ep.TrySend(libipc.Message{Data: make([]byte, libipc.MaxMessageSize+1)}); !errors.Is(err, libipc.ErrTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	// Error replies: ID 7 (the bad body), ID 8 (the unknown op), and ID 0
	// for what had no readable header.
	got := map[uint32]libipc.Code{}
	for got[7] == 0 || got[8] == 0 {
		m, err := ep.Recv(ctxT())
		if err != nil {
			t.Fatalf("waiting for error replies: %v (got %v)", err, got)
		}
		var eb libipc.ErrorBody
		h, err := libipc.DecodeMessage(m.Data, &eb)
		if err != nil || h.Kind != libipc.KindError {
			t.Fatalf("reply %+v: %v", h, err)
		}
		got[h.ID] = eb.Code
	}
	if got[7] != libipc.ErrMalformed || got[8] == 0 {
		t.Fatalf("error replies %v", got)
	}
	s := socket(t)
	defer s.Close()
	roundTrip(t, s, payload(4242, 100))
}

// checkPing: ICMP echo across the link through the socket service: small
// and fragmented requests come back; a silent host times out.
func checkPing(t *check.T) {
	c := setup(t)
	for seq, size := range []int{56, 0, 3000} {
		r, err := c.Ping(ctxT(), peer.Addr(), uint16(seq+1), size, 5*time.Second)
		if err != nil {
			t.Fatalf("ping %d bytes: %v", size, err)
		}
		if r.From != peer.Addr() || r.Seq != uint16(seq+1) || r.Len != size || r.RTT <= 0 {
			t.Fatalf("ping %d bytes: %+v", size, r)
		}
	}
	_, err := c.Ping(ctxT(), netip.MustParseAddr("10.99.0.9"), 1, 8, 200*time.Millisecond)
	if !errors.Is(err, sockproto.ETIMEDOUT) {
		t.Fatalf("ping of a silent host: %v", err)
	}
}
