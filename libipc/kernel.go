package libipc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"armos/abi"
)

// The kernel transport: an Endpoint over an armos channel descriptor, with
// the same semantics as the in-memory one (MemEndpoint), so Conn, Server,
// the Broker's users, netd and libsocket run on it unchanged.
//
// The descriptor is non-blocking and registered with the Go runtime's
// network poller (through os.File), so a goroutine waiting in Recv or Send
// parks like one waiting on a socket and holds no thread: a server with
// many connections needs no thread per connection. Context cancellation
// sets a deadline on the file, which wakes the waiter.
//
// Caps: a KernelEndpoint or a KernelHandle travels in a message as its
// descriptor. libipc's contract is that caps move to the receiver: the
// descriptor is copied into the message (abi.FdCopy, which needs
// abi.RightDup) and the sender's is closed once the send succeeded, so the
// os.File never outlives the descriptor it wraps. Received descriptors
// become KernelEndpoints (channels) or KernelHandles (anything else).

// KernelEndpoint is one end of a kernel channel.
type KernelEndpoint struct {
	f  *os.File
	rc syscall.RawConn
	fd int

	recvMu sync.Mutex // one receiver at a time: the read deadline is per file
	sendMu sync.Mutex

	// drained (under recvMu): the last receive took the last message
	// queued (abi.RecvMore clear), so Recv waits for readiness before
	// it receives again (see Recv).
	drained bool
	// posting (under recvMu): the endpoint posts receive buffers
	// (abi.RecvPost, postDepth of them), from a message larger than the
	// second largest buffer class to the next smaller one, so that its
	// sender's next messages are copied straight into them (one copy
	// instead of two). A posted buffer may be written by the kernel until
	// a receive returns it or the descriptor is closed, so it must stay
	// alive: registered, the endpoint is in postingEndpoints until Close.
	posted     [][]byte // buffers posted in the kernel, oldest first
	spare      []byte   // a free buffer to post next
	src        PostSource
	srcMixed   bool // SetPostSourceMixed: libipc's own buffers when src has none
	smallRun   int  // small messages received in a row while posting (mixed source)
	posting    bool
	registered bool
	poll       pollWaiter
	once       sync.Once
	closed     atomic.Bool

	// RawConn's callbacks for receiving, made once (newKernelEndpoint):
	// a closure per receive, with the results it wrote, was three
	// allocations per message. rx and rxErr carry a receive's result out
	// of rxFn, and rxWait says whether rxFn asks to wait when nothing is
	// queued (Recv) or not (TryRecv); all under recvMu.
	rx     Message
	rxErr  error
	rxWait bool
	rxFn   func(uintptr) bool
}

// postingEndpoints holds every endpoint that has posted a receive buffer
// until it is closed: its buffer may be written by the kernel while the
// descriptor is open, so the collector must not take it (an endpoint
// dropped without Close would otherwise lose its buffer before the
// file's finalizer closes the descriptor). Such an endpoint must be
// closed, or it and its buffer stay.
var postingEndpoints sync.Map

// KernelHandle is any other descriptor carried as a cap (a reply
// capability, a pipe...). Close closes it.
type KernelHandle struct {
	mu sync.Mutex
	fd int // -1 once closed or sent
}

// NewKernelHandle wraps descriptor fd (taking it over).
func NewKernelHandle(fd int) *KernelHandle { return &KernelHandle{fd: fd} }

// Fd returns the descriptor (-1 once closed or sent).
func (h *KernelHandle) Fd() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fd
}

// Close closes the descriptor.
func (h *KernelHandle) Close() error {
	h.mu.Lock()
	fd := h.fd
	h.fd = -1
	h.mu.Unlock()
	if fd < 0 {
		return ErrClosed
	}
	return syscall.Close(fd)
}

// NewKernelPair makes a kernel channel and returns its two ends.
func NewKernelPair() (*KernelEndpoint, *KernelEndpoint, error) { return NewKernelPairCap(0) }

// NewKernelPairCap is NewKernelPair with each direction's queue bounded at
// capacity messages (below 1 or above abi.QueueLen: abi.QueueLen).
func NewKernelPairCap(capacity int) (*KernelEndpoint, *KernelEndpoint, error) {
	if capacity < 1 || capacity > abi.QueueLen {
		capacity = abi.QueueLen
	}
	a, b, err := KChanCreateQueue(syscall.O_CLOEXEC|syscall.O_NONBLOCK, capacity)
	if err != nil {
		return nil, nil, fmt.Errorf("libipc: kernel channel: %w", kernelErr(err))
	}
	ea, err := newKernelEndpoint(a)
	if err != nil {
		syscall.Close(a)
		syscall.Close(b)
		return nil, nil, err
	}
	eb, err := newKernelEndpoint(b)
	if err != nil {
		ea.Close()
		syscall.Close(b)
		return nil, nil, err
	}
	return ea, eb, nil
}

// KernelEndpointFromFd takes over channel descriptor fd (for instance the
// bootstrap channel init passes a child as descriptor 3).
func KernelEndpointFromFd(fd int) (*KernelEndpoint, error) {
	info, err := KHandleInfo(fd)
	if err != nil {
		return nil, fmt.Errorf("libipc: descriptor %d: %w", fd, kernelErr(err))
	}
	if info.Type != abi.TypeChannel {
		return nil, fmt.Errorf("libipc: descriptor %d is not a channel: %w", fd, ErrInvalid)
	}
	return newKernelEndpoint(fd)
}

func newKernelEndpoint(fd int) (*KernelEndpoint, error) {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("libipc: descriptor %d: %w", fd, err)
	}
	f := os.NewFile(uintptr(fd), "armos-channel")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("libipc: descriptor %d: %w", fd, err)
	}
	e := &KernelEndpoint{f: f, rc: rc, fd: fd, poll: newPollWaiter(f, fd)}
	e.rxFn = e.recvOnce
	return e, nil
}

// recvOnce is RawConn.Read's callback (under recvMu): one receive, its
// result left in rx and rxErr; it asks the poller to wait for more only
// for Recv (rxWait) and only when nothing was queued.
func (e *KernelEndpoint) recvOnce(fd uintptr) bool {
	e.rx, e.rxErr = e.tryRecv(int(fd))
	return !e.rxWait || e.rxErr != ErrWouldBlock
}

// takeRx returns and clears the result recvOnce left (under recvMu), so
// that the endpoint holds no message once it is handed out.
func (e *KernelEndpoint) takeRx() (Message, error) {
	m, err := e.rx, e.rxErr
	e.rx, e.rxErr = Message{}, nil
	return m, err
}

// sendOp is one send's RawConn.Write callback and what it carries in
// and out, pooled with the callback made once: a closure per send was
// three allocations per message. (Sends need not hold sendMu, so each
// has its own.)
type sendOp struct {
	e      *KernelEndpoint
	m      Message
	pieces []Piece
	wait   bool // Send: wait in the poller while the peer's queue is full
	err    error
	fn     func(uintptr) bool
}

var sendOps = sync.Pool{New: func() any {
	op := new(sendOp)
	op.fn = op.run
	return op
}}

func (op *sendOp) run(fd uintptr) bool {
	op.err = op.e.trySend(int(fd), op.m, op.pieces)
	return !op.wait || op.err != ErrWouldBlock
}

// writeOp sends m with pieces through RawConn.Write, waiting while the
// peer's queue is full if wait: the file layer's error and the send's.
func (e *KernelEndpoint) writeOp(m Message, pieces []Piece, wait bool) (cerr, err error) {
	op := sendOps.Get().(*sendOp)
	op.e, op.m, op.pieces, op.wait = e, m, pieces, wait
	cerr = e.rc.Write(op.fn)
	err = op.err
	fn := op.fn
	*op = sendOp{fn: fn}
	sendOps.Put(op)
	return cerr, err
}

// Fd returns the endpoint's descriptor (valid until Close).
func (e *KernelEndpoint) Fd() int { return e.fd }

// File returns the endpoint's descriptor as the *os.File that owns it, to
// pass to a child (exec.Cmd.ExtraFiles). It stays the endpoint's: close the
// endpoint, not the file. (Wrapping Fd in a second os.File instead would
// leave a finalizer that closes the number again, later, when it may name
// another object.)
func (e *KernelEndpoint) File() *os.File { return e.f }

// kernelErr maps a system call error to the libipc sentinels.
func kernelErr(err error) error {
	var en syscall.Errno
	if !errors.As(err, &en) {
		return err
	}
	switch en {
	case syscall.EAGAIN:
		return ErrWouldBlock
	case syscall.EPIPE, syscall.ECONNRESET:
		return ErrPeerClosed
	case syscall.EBADF:
		return ErrClosed
	case syscall.EMSGSIZE:
		return ErrTooLarge
	case syscall.ENOBUFS:
		return ErrNoBufs
	case syscall.EINVAL:
		return ErrInvalid
	case syscall.EPERM, syscall.EACCES:
		return ErrPermission
	case syscall.ETIMEDOUT:
		return ErrTimeout
	case syscall.EBUSY:
		return ErrBusy
	}
	return Code(en)
}

// capFds returns the descriptors of caps, marked to be copied.
func capFds(caps []Cap, fds *[MaxCaps]int32) ([]int32, error) {
	out := fds[:0]
	for _, c := range caps {
		switch h := c.(type) {
		case *KernelEndpoint:
			out = append(out, int32(h.fd)|abi.FdCopy)
		case *KernelHandle:
			fd := h.Fd()
			if fd < 0 {
				return nil, fmt.Errorf("libipc: sending a closed handle: %w", ErrClosed)
			}
			out = append(out, int32(fd)|abi.FdCopy)
		default:
			return nil, fmt.Errorf("libipc: a %T cannot travel through a kernel channel: %w", c, ErrInvalid)
		}
	}
	return out, nil
}

// trySend makes one non-blocking send attempt on descriptor fd: m.Data,
// with pieces put back at their offsets when there are any (GatherSender),
// sent from where they lie (abi.SendGather), or joined into one buffer if
// they are too many for one call.
func (e *KernelEndpoint) trySend(fd int, m Message, pieces []Piece) error {
	var buf [MaxCaps]int32
	fds, err := capFds(m.Caps, &buf)
	if err != nil {
		return err
	}
	var vec [abi.MaxGather][]byte
	n := 0
	if len(pieces) > 0 {
		n = gatherVec(&vec, m.Data, pieces)
		if n == 0 {
			m.Data, pieces = JoinPieces(nil, m.Data, pieces), nil
		}
	}
	if n == 0 {
		err = KTrySend(fd, m.Data, fds)
	} else {
		err = KTrySendGather(fd, vec[:n], fds)
	}
	if err != nil {
		return kernelErr(err)
	}
	for _, c := range m.Caps { // moved: the receiver has its copy now
		c.Close()
	}
	return nil
}

// gatherVec fills vec with the message's stretches in order, the
// encoding b's bytes between the pieces and the pieces themselves, the
// empty ones left out (pieces that follow each other in the encoding, a
// payload in several pieces, have nothing between them), and returns how
// many there are: 0 when they do not fit abi.MaxGather (the caller joins
// them then).
func gatherVec(vec *[abi.MaxGather][]byte, b []byte, pieces []Piece) int {
	n, at := 0, 0
	add := func(s []byte) bool {
		if len(s) == 0 {
			return true
		}
		if n == len(vec) {
			return false
		}
		vec[n] = s
		n++
		return true
	}
	for _, p := range pieces {
		if !add(b[at:p.Off]) || !add(p.Data) {
			return 0
		}
		at = p.Off
	}
	if !add(b[at:]) {
		return 0
	}
	return n
}

// trySendPieces is TrySend of m with pieces (none for a plain message).
// (m.Data is at most the whole message, which Conn bounded with its
// pieces: checkBounds holds for both.)
func (e *KernelEndpoint) trySendPieces(m Message, pieces []Piece) error {
	if err := checkBounds(m); err != nil {
		return err
	}
	cerr, err := e.writeOp(m, pieces, false)
	if cerr != nil {
		return e.fileErr(cerr)
	}
	return err
}

// sendPieces is Send of m with pieces: it waits (in the network poller)
// while the peer's queue is full.
func (e *KernelEndpoint) sendPieces(ctx context.Context, m Message, pieces []Piece) error {
	if err := checkBounds(m); err != nil {
		return err
	}
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	stop := e.deadlineOnDone(ctx, true)
	defer stop()
	cerr, err := e.writeOp(m, pieces, true)
	if cerr != nil {
		return e.ctxErr(ctx, e.fileErr(cerr))
	}
	return err
}

// TrySend implements Endpoint.
func (e *KernelEndpoint) TrySend(m Message) error { return e.trySendPieces(m, nil) }

// Send implements Endpoint: it waits (in the network poller) while the
// peer's queue is full.
func (e *KernelEndpoint) Send(ctx context.Context, m Message) error { return e.sendPieces(ctx, m, nil) }

// TrySendGather implements GatherSender.
func (e *KernelEndpoint) TrySendGather(m Message, pieces []Piece) error {
	return e.trySendPieces(m, pieces)
}

// SendGather implements GatherSender: it waits while the peer's queue is
// full, as Send.
func (e *KernelEndpoint) SendGather(ctx context.Context, m Message, pieces []Piece) error {
	return e.sendPieces(ctx, m, pieces)
}

// deadlineOnDone arranges for the file's write deadline (write) or read
// deadline to be set in the past when ctx ends, which wakes a waiter in
// the poller; stop undoes it. A context that never ends costs nothing
// (no allocation: this runs for every message).
func (e *KernelEndpoint) deadlineOnDone(ctx context.Context, write bool) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	set := e.f.SetReadDeadline
	if write {
		set = e.f.SetWriteDeadline
	}
	if ctx.Err() != nil {
		set(time.Unix(1, 0))
		return func() { set(time.Time{}) }
	}
	unreg := context.AfterFunc(ctx, func() { set(time.Unix(1, 0)) })
	return func() {
		if !unreg() {
			set(time.Time{}) // it fired: clear the deadline for the next call
		}
	}
}

// fileErr maps an error of the os.File layer.
func (e *KernelEndpoint) fileErr(err error) error {
	switch {
	case e.closed.Load() || errors.Is(err, os.ErrClosed):
		return ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return err
	}
	return kernelErr(err)
}

// ctxErr reports ctx's error for a wait its end interrupted.
func (e *KernelEndpoint) ctxErr(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// recvScratch holds the largest message (or a Call's reply) while it is
// received: a small one is then copied into a right-sized buffer from the
// free list (msgbuf.go), a large one keeps it (tryRecv).
var recvScratch = sync.Pool{New: func() any { b := make([]byte, MaxMessageSize); return &b }}

// tryRecv makes one non-blocking receive attempt on descriptor fd (with
// recvMu held), noting in drained whether it emptied the queue.
//
// The message is received into a scratch buffer of the largest class
// (recvScratch: per P, no lock). A large message keeps it: copying 64 KiB
// again would cost more than the memory a buffer of the right class
// saves. A smaller one (the class below's size or less) is copied into a
// buffer of its class, and the scratch buffer stays for the next receive.
func (e *KernelEndpoint) tryRecv(fd int) (Message, error) {
	if e.posting || len(e.posted) > 0 {
		return e.tryRecvPosted(fd)
	}
	bp := recvScratch.Get().(*[]byte)
	buf := *bp
	var fds [MaxCaps]int32
	n, nfds, reply, more, err := KRecvMore(fd, buf, fds[:], abi.DontWait)
	e.drained = err == nil && !more
	if err != nil {
		recvScratch.Put(bp)
		return Message{}, kernelErr(err)
	}
	var m Message
	if n > bufClasses[len(bufClasses)-2] {
		// The scratch buffer goes with the message (a buffer of the
		// largest class: Release puts it on the free list); the pool gets
		// one from the free list in its place. The endpoint carries large
		// messages: it posts its receive buffer from now on.
		m.Data = buf[:n]
		*bp = getBuf(MaxMessageSize)[:MaxMessageSize]
		e.startPosting()
	} else {
		m.Data = copyToBuf(buf[:n])
	}
	recvScratch.Put(bp)
	return e.received(m, fds[:nfds], reply), nil
}

// mixedSmallRun is how many small messages in a row end the posting of an
// endpoint with a mixed source (SetPostSourceMixed).
const mixedSmallRun = 8

// startPosting makes the endpoint post its receive buffer (with recvMu
// held), holding it in postingEndpoints until Close.
func (e *KernelEndpoint) startPosting() {
	e.posting, e.smallRun = true, 0
	if !e.registered {
		e.registered = true
		postingEndpoints.Store(e, struct{}{})
		if e.closed.Load() {
			postingEndpoints.Delete(e) // Close may have missed the entry
		}
	}
}

// postDepth is how many buffers a posting endpoint keeps posted: a
// sender that sends twice before the receiver runs finds a buffer for
// each.
const postDepth = 4

// isPosted reports whether b is one of the endpoint's posted buffers.
func (e *KernelEndpoint) isPosted(b []byte) bool {
	for _, p := range e.posted {
		if &p[0] == &b[0] {
			return true
		}
	}
	return false
}

// freshBuf returns the spare buffer, or one from the endpoint's
// PostSource, or a new one of the largest class.
func (e *KernelEndpoint) freshBuf() []byte {
	if e.srcMixed {
		if b := e.src.PostBuf(); len(b) > 0 {
			return b
		}
	}
	if b := e.spare; b != nil {
		e.spare = nil
		return b
	}
	if e.src != nil {
		if b := e.src.PostBuf(); len(b) > 0 {
			return b
		}
	}
	return getBuf(MaxMessageSize)[:MaxMessageSize]
}

// PostSource supplies the receive buffers a kernel endpoint posts
// (SetPostSource): a driver's DMA memory, so that the kernel copies a
// message straight to where the device reads it. A large message
// received into one of its buffers comes out of Recv in it (Message.Data
// lies in it), and the buffer is then the caller's, to give back to the
// source when done (not with Message.Release); a small one is copied out
// as usual. Buffers the endpoint took and no longer needs come back
// through PutBuf, with the kernel done with them (when postings end, or
// after Close). Its methods are called on the receiving goroutine and
// from Close, and must not block on a Recv of the endpoint. After Close,
// PutBuf runs once no receive is under way; a send under way then keeps
// the descriptor (and so the postings) open until it returns, so a
// source whose owner sends on the endpoint too must not take a buffer
// back while such a send runs (virtionetd takes its buffers back under
// the lock its sends hold).
type PostSource interface {
	// PostBuf returns a buffer to post (of at most MaxMessageSize
	// bytes, a message larger than it then goes into one of libipc's
	// own), or nil when it has none to give.
	PostBuf() []byte
	// PutBuf takes back a buffer PostBuf returned.
	PutBuf(b []byte)
	// Owns reports whether b lies in one of its buffers.
	Owns(b []byte) bool
}

// SetPostSource makes the endpoint post buffers from src (nil: its own)
// from its next receive on. Call it before the endpoint receives.
func (e *KernelEndpoint) SetPostSource(src PostSource) {
	e.recvMu.Lock()
	e.src, e.srcMixed = src, false
	e.recvMu.Unlock()
}

// SetPostSourceMixed makes the endpoint post src's buffers first and
// libipc's own when src has none to give (SetPostSource posts src's
// only, beside the first), and keep posting through small messages until
// mixedSmallRun of them come in a row. A message that lands in one of src's buffers
// comes out of Recv in it, as with SetPostSource, and the buffer may
// reach ReleaseBuffer, Message.Release or Request.ReleaseBody anywhere in
// the process: those give it back to src (PutBuf), which is registered
// for that here. netd posts the NIC driver's transmit slots on the
// channels of protocol servers this way (servers/netd/link.SlotShare).
// Call it before the endpoint receives; src must not be nil.
func (e *KernelEndpoint) SetPostSourceMixed(src PostSource) {
	RegisterPostSource(src)
	e.recvMu.Lock()
	e.src, e.srcMixed = src, true
	e.recvMu.Unlock()
}

// drop lets go of a buffer the endpoint no longer needs and the kernel no
// longer writes: back to its PostSource if it came from there, else left
// to the collector (or the caller's free list).
func (e *KernelEndpoint) drop(b []byte) {
	if len(b) > 0 && e.src != nil && e.src.Owns(b) {
		e.src.PutBuf(b)
	}
}

// dropPosted lets go of every posted buffer (the kernel's postings have
// ended).
func (e *KernelEndpoint) dropPosted() {
	for _, p := range e.posted {
		e.drop(p)
	}
	clear(e.posted)
	e.posted = e.posted[:0]
}

// dropAll lets go of the posted buffers and the spare.
func (e *KernelEndpoint) dropAll() {
	e.dropPosted()
	e.drop(e.spare)
	e.spare = nil
}

// tryRecvPosted is tryRecv for an endpoint that posts its receive buffers
// (abi.RecvPost), or has buffers still posted after it stopped: a
// receive that finds nothing posts a buffer and another, up to
// postDepth, and the messages then sent are usually copied straight into
// them by the kernel, which tells where each lies. A large message keeps
// its buffer; a smaller one is copied into a buffer of its class, and
// ends the posting: the next receive is an ordinary one, which ends the
// kernel's postings, and the buffers are free once one finds nothing.
func (e *KernelEndpoint) tryRecvPosted(fd int) (Message, error) {
	var buf []byte
	if len(e.posted) > 0 {
		buf = e.posted[0]
	} else {
		buf = e.freshBuf()
	}
	var fds [MaxCaps]int32
	n, nfds, reply, more, at, err := KRecvPost(fd, buf, fds[:], abi.DontWait, e.posting)
	for err == syscall.EAGAIN && e.posting {
		if !e.isPosted(buf) {
			e.posted = append(e.posted, buf) // posted now
		}
		if len(e.posted) >= postDepth {
			break
		}
		if e.src != nil && e.spare == nil && !e.srcMixed {
			// With a source, only its buffers are posted beside the
			// first: a message in one of libipc's own would be copied
			// again where the source wants it.
			if buf = e.src.PostBuf(); len(buf) == 0 {
				break
			}
		} else {
			buf = e.freshBuf()
		}
		n, nfds, reply, more, at, err = KRecvPost(fd, buf, fds[:], abi.DontWait, true)
		if err != nil && err != syscall.EAGAIN {
			e.spare = buf
		}
	}
	if err == syscall.EMSGSIZE && e.src != nil {
		// A message larger than the source's buffers (plain, so none
		// posted is filled): received into one of libipc's own, which
		// ends the kernel's postings, and every buffer is free.
		own := getBuf(MaxMessageSize)[:MaxMessageSize]
		if !e.isPosted(buf) {
			e.drop(buf) // a fresh one, tracked nowhere else
		}
		e.dropAll()
		buf = own
		n, nfds, reply, more, at, err = KRecvPost(fd, buf, fds[:], abi.DontWait, false)
		if err != nil {
			e.spare = buf
		}
	}
	e.drained = err == nil && !more
	if err != nil {
		if err == syscall.EAGAIN && !e.posting {
			e.dropPosted() // nothing queued, nothing posted now
		}
		return Message{}, kernelErr(err)
	}
	// Where the message lies: buf (copied there; a posted buffer so used
	// is posted no more), or one of the buffers posted.
	var data []byte
	for i, p := range e.posted {
		if uintptr(unsafe.Pointer(&p[0])) == at {
			data = p
			e.posted = slices.Delete(e.posted, i, i+1)
			break
		}
	}
	if data == nil {
		if at != uintptr(unsafe.Pointer(&buf[0])) {
			return Message{}, fmt.Errorf("libipc: the kernel put a message at %#x, no buffer of this endpoint: %w", at, ErrInvalid)
		}
		data = buf
	} else if &data[0] != &buf[0] && !e.isPosted(buf) {
		// Named, not used, not posted: free.
		if e.spare == nil {
			e.spare = buf
		} else {
			e.drop(buf)
		}
	}
	var m Message
	if n > bufClasses[len(bufClasses)-2] {
		m.Data = data[:n]
		e.smallRun = 0
	} else {
		// A small message: the endpoint stops posting until the next
		// large one (a posting receive costs system calls each time the
		// receiver waits, worth it only while large messages come),
		// unless its source is mixed.
		m.Data = copyToBuf(data[:n])
		// A mixed source's endpoint keeps posting through a few small
		// messages: its sender's large messages come between small
		// ones (tcpd's segments and its window updates), and each
		// large one that finds nothing posted is copied twice and
		// misses the source's buffers. A longer run of small ones
		// (requests and responses) ends the posting, whose system calls
		// each wait would cost for nothing.
		e.smallRun++
		e.posting = e.srcMixed && e.smallRun < mixedSmallRun
		if e.spare == nil {
			e.spare = data
		} else {
			e.drop(data)
		}
	}
	return e.received(m, fds[:nfds], reply), nil
}

// received completes a received message: its descriptors wrapped, a
// call's reply capability closed.
func (e *KernelEndpoint) received(m Message, fds []int32, reply int) Message {
	nfds := len(fds)
	if nfds > 0 {
		m.Caps = make([]Cap, 0, nfds)
		for _, hfd := range fds[:nfds] {
			m.Caps = append(m.Caps, wrapReceived(int(hfd)))
		}
	}
	if reply >= 0 {
		// A call made with KCall: plain receivers answer nothing, so the
		// caller learns (EPIPE) rather than waiting for its deadline.
		syscall.Close(reply)
	}
	return m
}

// wrapReceived makes a Cap of a received descriptor.
func wrapReceived(fd int) Cap {
	if info, err := KHandleInfo(fd); err == nil && info.Type == abi.TypeChannel {
		if ep, err := newKernelEndpoint(fd); err == nil {
			return ep
		}
	}
	return NewKernelHandle(fd)
}

// TryRecv implements Endpoint. It always asks the kernel. (It waits for
// recvMu while a Recv waits: before, it waited for the file's read lock,
// which a waiting Recv held.)
func (e *KernelEndpoint) TryRecv() (Message, error) {
	e.recvMu.Lock()
	defer e.recvMu.Unlock()
	e.rxWait = false
	cerr := e.rc.Read(e.rxFn)
	m, err := e.takeRx()
	if cerr != nil {
		return Message{}, e.fileErr(cerr)
	}
	// e (its posted buffer) lives until the read ends, and with it a
	// close that waited for the read.
	runtime.KeepAlive(e)
	return m, err
}

// Recv implements Endpoint: it waits in the network poller.
//
// When the last receive emptied the queue (drained), Recv first waits for
// the poller to see the descriptor readable instead of making a receive
// that would fail with EAGAIN (pollwait.go): one system call less per
// message for a receive loop. No wake-up is lost:
//   - every message queued after that receive, and the peer's close,
//     marks the descriptor's epoll interest, and the poller reports it
//     (EPOLLIN, EPOLLHUP). The kernel queues, closes and marks under its
//     lock, so a message or a close is either seen by that receive,
//     which then reports RecvMore (more queued, or the peer gone: the
//     next receive does not wait), or marked after it;
//   - the poller keeps the report as the descriptor's read mark until a
//     wait consumes it or RawConn.Read clears it, and only receives clear
//     it: each RawConn.Read here and in TryRecv (both under recvMu, as
//     drained is) clears it and then receives, and that receive sets
//     drained anew. So a report since the receive that set drained is
//     still marked when the wait starts, and the wait returns at once;
//   - a deadline (ctx) or Close ends the wait too, and RawConn.Read then
//     reports it; drained is cleared after any wait, so a Recv that
//     fails before it receives leaves the next one to look first.
//
// A mark left from before that receive only costs the receive skipped.
func (e *KernelEndpoint) Recv(ctx context.Context) (Message, error) {
	e.recvMu.Lock()
	defer e.recvMu.Unlock()
	stop := e.deadlineOnDone(ctx, false)
	defer stop()
	// An endpoint that posts receives first instead: the receive that
	// finds nothing posts its buffer (one system call, where the copy it
	// saves a large message is thousands of instructions).
	if e.drained && e.poll.usable() && !e.posting {
		e.poll.wait(e.rc)
		// The wait may have consumed the mark: if RawConn.Read fails
		// before it receives (deadline, close), the next Recv must look.
		e.drained = false
	}
	e.rxWait = true
	cerr := e.rc.Read(e.rxFn)
	m, err := e.takeRx()
	runtime.KeepAlive(e) // as in TryRecv
	if cerr != nil {
		return Message{}, e.ctxErr(ctx, e.fileErr(cerr))
	}
	return m, err
}

// Call sends req as a kernel call and waits for the reply (ctx's deadline
// bounds the wait; the reply must fit MaxMessageSize). The peer must
// answer with Reply on the reply descriptor it receives.
func (e *KernelEndpoint) Call(ctx context.Context, req []byte) ([]byte, error) {
	dl := uint64(abi.NoDeadline)
	if d, ok := ctx.Deadline(); ok {
		dl = monotonicAt(d)
	}
	bp := recvScratch.Get().(*[]byte)
	defer recvScratch.Put(bp)
	var out []byte
	var err error
	call := func(fd uintptr) bool {
		var n int
		n, _, err = KCall(int(fd), req, nil, *bp, nil, dl)
		if err == nil {
			out = copyToBuf((*bp)[:n])
		}
		return err != syscall.EAGAIN
	}
	// Concurrent calls must not serialize: the common path holds no lock.
	cerr := e.rc.Control(func(fd uintptr) { call(fd) })
	if cerr == nil && err == syscall.EAGAIN {
		// The server's queue is full: wait for room in the poller (this
		// path holds the file's write lock, so congested calls queue up).
		cerr = e.rc.Write(call)
	}
	if cerr != nil {
		return nil, e.fileErr(cerr)
	}
	if err != nil {
		return nil, kernelErr(err)
	}
	return out, nil
}

// Watch implements Waitable: ready when Recv would not block. Otherwise
// a goroutine waits in the network poller on a duplicate of the
// descriptor (its own deadline, so Recv is not disturbed) and gives wake
// a token when a message or the peer's close arrives; stop closes the
// duplicate, which ends it.
func (e *KernelEndpoint) Watch(wake chan<- struct{}) (ready bool, stop func()) {
	if e.closed.Load() {
		return true, nil
	}
	if err := KPeek(e.fd, abi.DontWait); err != syscall.EAGAIN {
		return true, nil
	}
	fd2, err := syscall.Dup(e.fd)
	if err != nil {
		return true, nil // let the caller's Recv report what is wrong
	}
	syscall.CloseOnExec(fd2)
	f2 := os.NewFile(uintptr(fd2), "armos-channel-watch")
	rc2, err := f2.SyscallConn()
	if err != nil {
		f2.Close()
		return true, nil
	}
	go func() {
		rc2.Read(func(fd uintptr) bool { return KPeek(int(fd), abi.DontWait) != syscall.EAGAIN })
		select {
		case wake <- struct{}{}:
		default:
		}
	}()
	return false, func() { f2.Close() }
}

// Close implements Endpoint.
func (e *KernelEndpoint) Close() error {
	err := error(ErrClosed)
	e.once.Do(func() {
		e.closed.Store(true)
		err = e.f.Close()
		// The descriptor is closed (or being closed once its last
		// use ends): the kernel writes no posted buffer of it any more.
		postingEndpoints.Delete(e)
		if e.src != nil {
			// Once no receive is under way (the close ended any wait),
			// the descriptor is closed: the source's buffers go back.
			e.recvMu.Lock()
			e.dropAll()
			e.recvMu.Unlock()
		}
	})
	return err
}

// monoBase ties the runtime's monotonic clock to CLOCK_MONOTONIC.
var monoBase = sync.OnceValues(func() (time.Time, uint64) {
	var ts syscall.Timespec
	t := time.Now()
	clockGettime(&ts)
	return t, uint64(ts.Nano())
})

// monotonicAt converts t to CLOCK_MONOTONIC nanoseconds (a past time to
// 1, which has passed).
func monotonicAt(t time.Time) uint64 {
	t0, m0 := monoBase()
	d := t.Sub(t0)
	if d < 0 && uint64(-d) >= m0 {
		return 1
	}
	return uint64(int64(m0) + int64(d))
}

func clockGettime(ts *syscall.Timespec) {
	const clockMonotonic = 1
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(ts)), 0)
}

// TransportEnv names the environment variable that selects the transport
// of TransportPair (and so of the Broker): "kernel" for kernel channels,
// anything else the in-memory transport. Test suites written against the
// in-memory transport run over kernel channels with it set (in armos).
const TransportEnv = "LIBIPC_TRANSPORT"

// TransportPair makes a pair on the transport TransportEnv selects, with
// queues of capacity messages.
func TransportPair(capacity int) (Endpoint, Endpoint, error) {
	return transportPair(capacity)
}

// PairFor makes an endpoint pair whose ends can travel through ep's
// transport as caps: kernel channels when ep is one, in-memory ones
// otherwise (a server handing a client a new connection over the
// connection it has, whatever LIBIPC_TRANSPORT says).
func PairFor(ep Endpoint, capacity int) (Endpoint, Endpoint, error) {
	if _, ok := ep.(*KernelEndpoint); ok {
		return NewKernelPairCap(capacity)
	}
	a, b := NewPair(capacity)
	return a, b, nil
}

func transportPair(capacity int) (Endpoint, Endpoint, error) {
	if os.Getenv(TransportEnv) == "kernel" {
		a, b, err := NewKernelPairCap(capacity)
		if err != nil {
			return nil, nil, err
		}
		return a, b, nil
	}
	a, b := NewPair(capacity)
	return a, b, nil
}
