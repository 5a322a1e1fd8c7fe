package sockets

import (
	"net/netip"
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

// cancelMemory is how many early cancels (a cancel that overtook its
// receive) a socket remembers; older ones are forgotten.
const cancelMemory = 8

// client is the state of one connection: its sockets by handle.
type client struct {
	id    uint64 // connection number, for netstat
	conn  *libipc.Conn
	socks map[sockproto.Handle]*socket
	next  sockproto.Handle
}

// socket is one datagram socket. Options set before the socket is bound
// are kept here and applied to the endpoint when it is created.
type socket struct {
	s  *Service
	cl *client
	h  sockproto.Handle
	ep *stack.UDPEndpoint // nil until bound

	queueLen    int // 0: the stack's default
	broadcast   bool
	nonBlock    bool
	recvTimeout time.Duration

	waiters []*waiter // parked receives, oldest first

	cancelled [cancelMemory]uint32 // tags cancelled before their receive came
	cancelPos int
}

// newHandle returns an unused non-zero handle.
func (cl *client) newHandle() sockproto.Handle {
	for {
		cl.next++
		if _, busy := cl.socks[cl.next]; cl.next != 0 && !busy {
			return cl.next
		}
	}
}

// bind creates the socket's endpoint at addr and applies pending options.
func (sk *socket) bind(addr netip.AddrPort) error {
	ep, err := sk.s.st.BindUDP(addr)
	if err != nil {
		return err
	}
	if sk.queueLen > 0 {
		if err := ep.SetQueueLen(sk.queueLen); err != nil {
			ep.Close()
			return err
		}
	}
	ep.SetBroadcast(sk.broadcast)
	ep.SetNotify(sk.deliver)
	sk.ep = ep
	return nil
}

// autoBind binds an unbound socket to an ephemeral port on every local
// address, as a first connect or send does.
func (sk *socket) autoBind() error {
	if sk.ep != nil {
		return nil
	}
	return sk.bind(netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
}

// connected reports whether the socket has a peer (OpConnect).
func (sk *socket) connected() bool { return sk.ep != nil && sk.ep.RemoteAddr().IsValid() }

// waiterTagged returns the parked receive with tag, or nil.
func (sk *socket) waiterTagged(tag uint32) *waiter {
	for _, w := range sk.waiters {
		if w.tag == tag {
			return w
		}
	}
	return nil
}

// local returns the bound address (0.0.0.0:0 while unbound).
func (sk *socket) local() netip.AddrPort {
	if sk.ep == nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return sk.ep.LocalAddr()
}

// park queues a receive until a datagram, its deadline or a cancel.
func (sk *socket) park(w *waiter) {
	sk.waiters = append(sk.waiters, w)
	if !w.deadline.IsZero() {
		sk.s.waits.add(w)
	}
	sk.s.stats.parked.Add(1)
}

// unpark removes w from the socket's queue and the deadline heap and
// recycles it: it returns what w was waiting with, and w must not be
// used after.
func (sk *socket) unpark(w *waiter) (r *libipc.Request, max uint32, count int) {
	r, max, count = w.r, w.max, w.count
	defer sk.s.freeWaiter(w)
	for i, x := range sk.waiters {
		if x == w {
			copy(sk.waiters[i:], sk.waiters[i+1:])
			sk.waiters[len(sk.waiters)-1] = nil
			sk.waiters = sk.waiters[:len(sk.waiters)-1]
			break
		}
	}
	sk.s.waits.remove(w)
	sk.s.stats.parked.Add(^uint64(0))
	return r, max, count
}

// deliver answers parked receives while datagrams are queued, or with the
// pending asynchronous error (ECONNREFUSED) first, as Linux reports sk_err
// before the queue. It is the endpoint's notify callback (run inside
// stack.Input, on the loop).
func (sk *socket) deliver() {
	for len(sk.waiters) > 0 && sk.ep != nil {
		w := sk.waiters[0]
		if err := sk.ep.TakeError(); err != nil {
			r, _, _ := sk.unpark(w)
			sk.s.fail(r, errnoOf(err))
			continue
		}
		if sk.ep.Len() == 0 {
			return
		}
		r, max, count := sk.unpark(w)
		sk.s.replyDatagram(sk, r, max, count)
	}
}

// takeError returns and clears the socket's pending asynchronous error.
func (sk *socket) takeError() sockproto.Errno {
	if sk.ep == nil {
		return 0
	}
	if err := sk.ep.TakeError(); err != nil {
		return errnoOf(err)
	}
	return 0
}

// rememberCancel records a cancel whose receive has not arrived.
func (sk *socket) rememberCancel(tag uint32) {
	sk.cancelled[sk.cancelPos] = tag
	sk.cancelPos = (sk.cancelPos + 1) % cancelMemory
}

// takeCancel reports (and forgets) whether tag was cancelled early.
func (sk *socket) takeCancel(tag uint32) bool {
	if tag == 0 {
		return false
	}
	for i, t := range sk.cancelled {
		if t == tag {
			sk.cancelled[i] = 0
			return true
		}
	}
	return false
}

// close ends the socket: parked receives fail with EBADF (when answer is
// set; a connection that ended has no one to answer) and the endpoint (and
// its port) is released.
func (sk *socket) close(answer bool) {
	for len(sk.waiters) > 0 {
		r, _, _ := sk.unpark(sk.waiters[0])
		if answer {
			sk.s.fail(r, sockproto.EBADF)
		}
	}
	if sk.ep != nil {
		sk.ep.Close()
		sk.ep = nil
	}
	delete(sk.cl.socks, sk.h)
	sk.s.stats.sockets.Add(^uint64(0))
}
