package rt

import (
	"math/bits"
	"unsafe"

	"armos/abi"
)

// IPC channels: the way armos processes talk (docs/kernel-ipc.md).
//
// A channel is two endpoint objects, each reached through descriptors like
// any other object here, so a process waits for its channels with epoll
// (Go's netpoller included), passes them to children like pipes, and
// closes them with close(2). A message is bytes (at most
// abi.MaxMessageBytes) and descriptors (at most abi.MaxMessageHandles),
// moved or copied from the sender's table into the receiver's.
//
// Queued messages live in pages of their own (kmsg): the first page holds
// the header and the first bytes, further pages the rest. Each endpoint
// queues at most abi.QueueLen messages and abi.QueueBytes bytes sent to
// it; a full queue is EAGAIN for a non-blocking sender and blocks a
// blocking one. All queued messages together hold at most ipcPageLimit
// pages (ENOBUFS beyond, counted).
//
// Hand-off: a sender that finds a thread blocked receiving on the peer
// completes that receive itself (copying into the receiver's buffers
// through its tables) and puts the receiver at the front of the run
// queue, so that a caller blocking for the answer switches straight to
// it, which keeps what is left of the caller's time slice (no starving
// of others by a ping-pong pair).
//
// Calls: SysChanCall sends a message carrying a fresh reply object and
// blocks the caller for the answer. The receiver gets a descriptor for
// the reply object; SysReply copies the answer straight into the
// caller's reply buffers, moves the descriptors, closes the reply
// descriptor and switches to the caller. A reply object closed
// unanswered (dropped, its holder dead) fails the call with EPIPE; a
// caller that stopped waiting (deadline, death) makes SysReply fail with
// EPIPE, counted. The caller's wait is not interrupted by signals (a
// retry would send the request twice); its deadline bounds it.
//
// Cycles: an endpoint may not travel through its own channel, nor to an
// end that the messages queued to it carry, directly or through the ends
// those carry (EBUSY, carriesEnd), so endpoints in transit never hold
// each other in a cycle and every one is freed when its holders close;
// no collector is needed.

// Error numbers beyond syscall.go's.
const (
	EBUSY       = 16
	EMSGSIZE    = 90
	EPROTOTYPE  = 91
	ENOBUFS     = 105
	ECONNRESET  = 104
	ipcFdDenied = ^uint8(0) &^ abi.RightsAll
)

// kmsg is the header of a queued message, at the start of its first page.
type kmsg struct {
	next  uintptr // the next message in its queue, or in relMsgs
	len   uint32
	nh    uint32
	reply int32 // the reply object of a call, or -1
	// posted: the bytes are in the receiving process's posted buffer
	// (postProc's, at postVA), not in pages after this header
	// (abi.RecvPost, sendPosted)
	posted   bool
	postProc int32
	postVA   uint64
	h        [abi.MaxMessageHandles]int32 // objects carried (one reference each)
	deny     [abi.MaxMessageHandles]uint8 // rights taken away from each
	extra    [kmsgExtra]uintptr           // pages after the first (kernel addresses)
}

const (
	kmsgHdr   = 256
	kmsgFirst = pageSize - kmsgHdr // bytes in the first page
	kmsgExtra = (abi.MaxMessageBytes - kmsgFirst + pageSize - 1) / pageSize
)

var (
	// ipcPages counts the pages of queued messages; ipcPageLimit bounds
	// them (a quarter of RAM, set when the first message is queued).
	ipcPages, ipcPageLimit uint64
	// relMsgs lists messages whose descriptors are being released (a
	// closing endpoint's queue), drained iteratively by putObject.
	relMsgs   uintptr
	releasing bool
	// ipcBounce carries a reply from the replier's memory into the
	// caller's (the kernel lock is held: one CPU uses it at a time).
	ipcBounce [pageSize]byte
)

// IPCStats are the channel counters (netstat-like).
type IPCStats struct {
	Sent, Received, Handoffs, Calls, Replies uint64
	Posted                                   uint64 // messages copied straight into a posted buffer (abi.RecvPost)
	Unposted                                 uint64 // posted messages copied back into the queue: the poster let go of the endpoint
	Full                                     uint64 // sends refused or blocked: the peer's queue was full
	NoBufs                                   uint64 // sends refused: every message page in use
	Dropped                                  uint64 // messages dropped with the endpoint they were queued to
	ReplyLost                                uint64 // replies to callers that had stopped waiting
	CallFailed                               uint64 // calls ended by a reply object closed unanswered
	Pages                                    uint64 // pages of queued messages now
}

var ipcStats IPCStats

// ReadIPCStats returns a snapshot of the channel counters.
func ReadIPCStats() IPCStats {
	s := ipcStats
	s.Pages = ipcPages
	return s
}

//go:nosplit
func msgAt(va uintptr) *kmsg { return (*kmsg)(ptrOf(va)) }

// msgPages returns how many pages a message of n bytes takes.
//
//go:nosplit
func msgPages(n uint32) uint32 {
	if n <= kmsgFirst {
		return 1
	}
	return 1 + (n-kmsgFirst+pageSize-1)/pageSize
}

// newMsg allocates the pages of a message of n bytes (header zeroed), or
// returns 0 (ENOBUFS: over the limit or out of memory).
//
//go:nosplit
func newMsg(n uint32) uintptr {
	np := msgPages(n)
	if ipcPageLimit == 0 {
		ipcPageLimit = physPages.Stats().Total / 4
	}
	if ipcPages+uint64(np) > ipcPageLimit {
		return 0
	}
	_, va := allocPageRaw() // the header is set here, the data copied in
	if va == 0 {
		return 0
	}
	m := msgAt(va)
	*m = kmsg{len: n, reply: -1}
	for i := uint32(1); i < np; i++ {
		_, x := allocPageRaw()
		if x == 0 {
			m.len = kmsgFirst * i // what is allocated so far
			freeMsgPages(va)
			return 0
		}
		m.extra[i-1] = x
	}
	ipcPages += uint64(np)
	return va
}

// freeMsgPages frees a message's pages (not what it carries).
//
//go:nosplit
func freeMsgPages(va uintptr) {
	m := msgAt(va)
	np := msgPages(m.len)
	if m.posted {
		np = 1 // the header only: the bytes are in the receiver's buffer
	}
	for i := uint32(1); i < np; i++ {
		if m.extra[i-1] != 0 {
			freePages(physOf(m.extra[i-1]), 1)
		}
	}
	if ipcPages >= uint64(np) {
		ipcPages -= uint64(np)
	}
	freePages(physOf(va), 1)
}

// msgChunk returns the part of message m's data from off on that is
// contiguous in kernel memory.
//
//go:nosplit
func msgChunk(va uintptr, off uint32) []byte {
	m := msgAt(va)
	if off < kmsgFirst {
		return bytesOf(ptrOf(va+kmsgHdr+uintptr(off)), uintptr(min(m.len, kmsgFirst)-off))
	}
	k := off - kmsgFirst
	page := m.extra[k/pageSize]
	end := min(m.len-kmsgFirst-k/pageSize*pageSize, pageSize)
	return bytesOf(ptrOf(page+uintptr(k%pageSize)), uintptr(end-k%pageSize))
}

// userCopyIn and userCopyOut reach the memory of process p, which need
// not be the running one.
func userCopyIn(p int, dst []byte, va uint64) bool {
	if p == curProc() {
		return copyIn(dst, va)
	}
	_, e := space(p).CopyIn(dst, va)
	return e == 0
}

func userCopyOut(p int, va uint64, src []byte) bool {
	if p == curProc() {
		return copyOut(va, src)
	}
	_, e := space(p).CopyOut(va, src)
	return e == 0
}

// fillMsg copies the bytes of plan (the running process's) into message m.
func fillMsg(m uintptr, plan *sendPlan) bool {
	n := msgAt(m).len
	for off := uint32(0); off < n; {
		c := msgChunk(m, off)
		if !plan.copyIn(c, off) {
			return false
		}
		off += uint32(len(c))
	}
	return true
}

// releaseMsg drops what a message carries and frees its pages.
func releaseMsg(m uintptr) {
	km := msgAt(m)
	for i := uint32(0); i < km.nh; i++ {
		putObject(km.h[i])
	}
	if km.reply >= 0 {
		putObject(km.reply)
	}
	freeMsgPages(m)
}

// drainReleases frees the messages on relMsgs, including those their
// release adds (endpoints carried in them closing in turn).
func drainReleases() {
	if releasing {
		return
	}
	releasing = true
	for relMsgs != 0 {
		m := relMsgs
		relMsgs = msgAt(m).next
		releaseMsg(m)
	}
	releasing = false
}

// objID is the identity of object o in this life (abi.HandleInfo.ID).
//
//go:nosplit
func objID(o int32) uint64 { return uint64(objs[o].gen)<<16 | uint64(o) + 1 }

// fdRights returns the rights of descriptor fd of process p.
//
//go:nosplit
func fdRights(p, fd int) uint8 { return abi.RightsAll &^ pr(p).fds[fd].deny }

// chanFd returns the object of descriptor fd of the running process if it
// is of kind and has right, else the error.
//
//go:nosplit
func chanFd(fd uint64, kind uint8, right uint8) (int32, uint64) {
	if fd >= maxFds {
		return -1, errno(EBADF)
	}
	e := &pr(curProc()).fds[fd] // one look-up for the object and the rights
	o := e.obj
	if o < 0 {
		return -1, errno(EBADF)
	}
	if objs[o].kind != kind {
		return -1, errno(EPROTOTYPE)
	}
	if (abi.RightsAll&^e.deny)&right == 0 { // fdRights
		return -1, errno(EACCES)
	}
	return o, 0
}

// readMsgArg copies an abi.Msg in from the running process.
func readMsgArg(va uint64, m *abi.Msg) bool {
	return copyIn(bytesOf(unsafe.Pointer(m), abi.MsgSize), va)
}

// armos_chan_create(flags, fds, qlen)
func sysChanCreateFn(tf *Frame) uint64 {
	flags := uint32(tf.X[0])
	if flags&^(oCLOEXEC|oNONBLOCK) != 0 || tf.X[2] > abi.QueueLen {
		return errno(EINVAL)
	}
	qlen := uint8(tf.X[2])
	if qlen == 0 {
		qlen = abi.QueueLen
	}
	p := curProc()
	a := lowestFd(p, 0)
	if a < 0 {
		return errno(EMFILE)
	}
	pr(p).fds[a].obj = -2 // held while looking for the second
	b := lowestFd(p, a+1)
	pr(p).fds[a].obj = -1
	if b < 0 {
		return errno(EMFILE)
	}
	oa := allocObject(objChannel, oRDWR|flags&oNONBLOCK)
	if oa < 0 {
		return errno(ENFILE)
	}
	ob := allocObject(objChannel, oRDWR|flags&oNONBLOCK)
	if ob < 0 {
		objs[oa].kind = objFree
		return errno(ENFILE)
	}
	if objQueue(oa) < 0 || objQueue(ob) < 0 {
		putObject(oa)
		putObject(ob)
		return errno(ENFILE)
	}
	objs[oa].peer, objs[ob].peer = ob, oa
	objs[oa].qlen, objs[ob].qlen = qlen, qlen
	fds := [2]int32{int32(a), int32(b)}
	if !copyOut(tf.X[1], bytesOf(unsafe.Pointer(&fds), 8)) {
		putObject(oa)
		putObject(ob)
		return errno(EFAULT)
	}
	installFd(p, a, oa, flags&oCLOEXEC != 0)
	installFd(p, b, ob, flags&oCLOEXEC != 0)
	return 0
}

// closeEndpoint is the last close of endpoint o: what is queued to it is
// dropped (its descriptors released), and the peer learns at once.
func closeEndpoint(o int32) {
	ob := &objs[o]
	for m := ob.mhead; m != 0; {
		next := msgAt(m).next
		msgAt(m).next = relMsgs
		relMsgs = m
		ipcStats.Dropped++
		m = next
	}
	ob.mhead, ob.mtail, ob.mn, ob.mh, ob.mbytes, ob.mplain, ob.npost = 0, 0, 0, 0, 0, 0, 0
	if peer := ob.peer; peer >= 0 {
		ob.peer = -1
		objs[peer].peer = -1
		if q := objs[peer].q; q >= 0 {
			wakeQueueRetry(q) // receivers see ECONNRESET, senders EPIPE
		}
		notify(peer)
	}
}

// closeReply is the last close of reply object o: a caller still waiting
// for it fails with EPIPE.
//
//go:nosplit
func closeReply(o int32) {
	if i := replyCaller(o); i >= 0 {
		ipcStats.CallFailed++
		wake(i, errno(EPIPE))
	}
	objs[o].caller = 0
}

// replyCaller returns the slot of the thread still waiting for reply
// object o, or -1.
//
//go:nosplit
func replyCaller(o int32) int {
	i := findTid(objs[o].caller)
	if i < 0 {
		return -1
	}
	t := th(i)
	if t.state != tsBlocked || t.wait != waitReply || t.key != objID(o) || pr(int(t.proc)).state != psLive {
		return -1
	}
	return i
}

// sendPlan is a message checked and ready to commit.
type sendPlan struct {
	fds  [abi.MaxMessageHandles]int32
	objs [abi.MaxMessageHandles]int32
	copy [abi.MaxMessageHandles]bool
	nh   uint32
	// the message's bytes in the sender's memory: one piece, or a
	// SendGather's (checked: readable, their total the Msg's Len)
	src  [abi.MaxGather]abi.IOVec
	nsrc uint32
	// copyIn's cursor: the message offset it is at, as piece ci and the
	// offset co in it, and the kernel's window on the bytes from there to
	// the end of their page (or piece), so that each source page is
	// translated once however the destination divides the message
	at   uint32
	ci   uint32
	co   uint64
	win  uintptr // an address, never a Go pointer: trap code runs no write barrier
	winN uint64
}

// single makes m's Data and Len the plan's one piece of bytes, if the
// running process may read them.
func (p *sendPlan) single(m *abi.Msg) bool {
	p.src[0], p.nsrc = abi.IOVec{Base: m.Data, Len: uint64(m.Len)}, 1
	return accessOK(m.Data, uint64(m.Len))
}

// gather reads a SendGather message's pieces (m.Cap of them at m.Data)
// into the plan: at most abi.MaxGather, each readable, their total m.Len.
func (p *sendPlan) gather(m *abi.Msg) uint64 {
	if m.Cap > abi.MaxGather {
		return errno(EINVAL)
	}
	if m.Cap > 0 && !copyIn(bytesOf(unsafe.Pointer(&p.src), uintptr(m.Cap)*abi.IOVecSize), m.Data) {
		return errno(EFAULT)
	}
	p.nsrc = m.Cap
	total := uint64(0)
	for _, v := range p.src[:p.nsrc] {
		if v.Len > abi.MaxMessageBytes || !accessOK(v.Base, v.Len) {
			return errno(EFAULT)
		}
		total += v.Len
	}
	if total != uint64(m.Len) {
		return errno(EINVAL)
	}
	return 0
}

// copyIn fills dst from the message's bytes at offset off (the running
// process's memory), across its pieces. Copies that go on where the last
// ended reuse its window on the source page; any other offset starts the
// cursor again.
func (p *sendPlan) copyIn(dst []byte, off uint32) bool {
	if off != p.at {
		p.seek(off)
	}
	for len(dst) > 0 {
		if p.winN == 0 && !p.nextPage() {
			return false
		}
		n := min(uint64(len(dst)), p.winN)
		copyFromKernel(dst[:n], ptrOf(p.win))
		p.win, p.winN = p.win+uintptr(n), p.winN-n
		p.co += n
		p.at += uint32(n)
		dst = dst[n:]
	}
	return true
}

// seek puts copyIn's cursor at message offset off, with no window.
func (p *sendPlan) seek(off uint32) {
	p.at, p.ci, p.co, p.win, p.winN = off, 0, uint64(off), 0, 0
}

// dropWindow forgets the window on the source page (the running process's
// memory may be about to change under it), keeping the cursor's place.
func (p *sendPlan) dropWindow() { p.win, p.winN = 0, 0 }

// nextPage opens the window on the source bytes at the cursor: to the end
// of their piece or of the run of pages they lie in, mapped alike onto
// consecutive memory (mm.ReadableRun: one walk of the tables for the
// run; a page not mapped yet is faulted in as the process's read would
// be); false: past the message's end, or unreadable.
func (p *sendPlan) nextPage() bool {
	for p.ci < p.nsrc && p.co >= p.src[p.ci].Len {
		p.co -= p.src[p.ci].Len
		p.ci++
	}
	if p.ci >= p.nsrc {
		return false
	}
	v := p.src[p.ci]
	ptr, n, e := space(curProc()).ReadableRun(v.Base+p.co, v.Len-p.co)
	if e != 0 {
		return false
	}
	p.win, p.winN = uintptr(ptr), min(n, v.Len-p.co)
	return true
}

// checkSend validates a message sent through endpoint o by the running
// process (its descriptors: rights, repeats, cycles) and whether the peer
// has room; 0 or the error (EAGAIN: full).
func checkSend(o int32, m *abi.Msg, plan *sendPlan, gather bool) uint64 {
	peer := objs[o].peer
	if peer < 0 {
		return errno(EPIPE)
	}
	if m.Len > abi.MaxMessageBytes || m.NFds > abi.MaxMessageHandles {
		return errno(EMSGSIZE)
	}
	if gather {
		if e := plan.gather(m); e != 0 {
			return e
		}
	} else if !plan.single(m) {
		return errno(EFAULT)
	}
	plan.nh = m.NFds
	if m.NFds > 0 && !copyIn(bytesOf(unsafe.Pointer(&plan.fds), uintptr(4*m.NFds)), m.Fds) {
		return errno(EFAULT)
	}
	if e := checkFds(o, peer, plan); e != 0 {
		return e
	}
	po := &objs[peer]
	if po.mn >= uint16(po.qlen) || po.mbytes+m.Len > abi.QueueBytes {
		ipcStats.Full++
		return errno(EAGAIN)
	}
	return 0
}

// buildMsg makes the message of a checked send: data copied in, the
// descriptors taken out of the running process's table (moved) or
// referenced again (copied). 0 if there is no room or the data is not
// readable (*e says which).
func buildMsg(m *abi.Msg, plan *sendPlan, reply int32, e *uint64) uintptr {
	km := newMsg(m.Len)
	if km == 0 {
		ipcStats.NoBufs++
		*e = errno(ENOBUFS)
		return 0
	}
	if !fillMsg(km, plan) {
		freeMsgPages(km)
		*e = errno(EFAULT)
		return 0
	}
	k := msgAt(km)
	p := curProc()
	for i := uint32(0); i < plan.nh; i++ {
		fd := int(plan.fds[i])
		k.h[i] = plan.objs[i]
		k.deny[i] = pr(p).fds[fd].deny
		if plan.copy[i] {
			getObject(plan.objs[i])
		} else {
			unpost(plan.objs[i], p)
			pr(p).fds[fd] = fdEntry{obj: -1}
			epollForgetFd(p, fd, plan.objs[i])
		}
	}
	k.nh = plan.nh
	k.reply = reply
	return km
}

// sendTo gives the message m (checked into plan) from the running
// process to endpoint dst: straight into the buffers of a thread blocked
// receiving there, which then runs next, or else into dst's queue. 0 or
// the sender's error.
func sendTo(dst int32, m *abi.Msg, plan *sendPlan, reply int32) uint64 {
	d := &objs[dst]
	if d.mn == 0 && d.q >= 0 {
		if i := blockedReceiver(d.q); i >= 0 {
			t := th(i)
			e, dstFault := xfer(m, plan, reply, int(t.proc), t.regs.X[1], &t.rmsg)
			if e == 0 {
				ipcStats.Sent++
				ipcStats.Handoffs++
				ipcStats.Received++
				wakeFront(i, 0)
				return 0
			}
			if !dstFault {
				return e
			}
			// It cannot take it: queued, it retries and learns why.
		}
	}
	if d.npost != 0 && d.mplain == 0 && plan.nh == 0 && reply < 0 && m.Len <= d.posts[0].cap {
		if km, e, ok := sendPosted(dst, m, plan); ok {
			if e != 0 {
				return e
			}
			queueMsg(dst, km)
			return 0
		}
	}
	var e uint64
	km := buildMsg(m, plan, reply, &e)
	if km == 0 {
		return e
	}
	queueMsg(dst, km)
	return 0
}

// postBuf is a receive buffer posted on an endpoint (abi.RecvPost).
type postBuf struct {
	va  uint64
	cap uint32
}

// addPost posts the buffer of m (process p's) on ob after those there,
// unless it is there already or ob has abi.MaxPosted; another process's
// postings end first.
func addPost(ob *object, p int, m *abi.Msg) {
	if int(ob.postProc) != p {
		ob.npost, ob.postProc = 0, int32(p)
	}
	for _, b := range ob.posts[:ob.npost] {
		if b.va == m.Data {
			return
		}
	}
	if ob.npost < abi.MaxPosted {
		ob.posts[ob.npost] = postBuf{va: m.Data, cap: min(m.Cap, abi.MaxMessageBytes)}
		ob.npost++
	}
}

// dropPost ends the posting of the buffer at va on ob, if there is one.
func dropPost(ob *object, va uint64) {
	for i, b := range ob.posts[:ob.npost] {
		if b.va == va {
			copy(ob.posts[i:], ob.posts[i+1:ob.npost])
			ob.npost--
			return
		}
	}
}

// sendPosted copies message m (bytes only) from the running process
// straight into the oldest buffer the receiver posted on endpoint dst
// (which the caller checked: only posted messages are queued, m fits)
// and returns the header to queue for it, marked posted. That posting is
// used up either way. ok false: the buffer cannot take it (unmapped, not
// writable, the poster dying) or no page for the header, and the caller
// queues m the usual way; ok with e: the sender's bytes are unreadable
// (EFAULT).
func sendPosted(dst int32, m *abi.Msg, plan *sendPlan) (km uintptr, e uint64, ok bool) {
	d := &objs[dst]
	p, va := int(d.postProc), d.posts[0].va
	dropPost(d, va)
	if pr(p).state != psLive {
		return 0, 0, false
	}
	km = newMsg(0)
	if km == 0 {
		return 0, 0, false
	}
	for off := uint32(0); off < m.Len; {
		w, wok := userWindow(p, va+uint64(off), m.Len-off)
		if !wok {
			freeMsgPages(km)
			return 0, 0, false
		}
		if !plan.copyIn(w, off) {
			freeMsgPages(km)
			return 0, errno(EFAULT), true
		}
		off += uint32(len(w))
	}
	k := msgAt(km)
	k.len, k.posted, k.postProc, k.postVA = m.Len, true, int32(p), va
	ipcStats.Posted++
	return km, 0, true
}

// unpost ends process p's postings on endpoint o, if it holds them, and
// makes the posted messages still queued there for p ordinary ones, their
// bytes copied from p's buffers into message pages (dropped, counted, if
// there is no page for them): p is letting go of a descriptor of o, so
// its buffers may be reused, and the messages may be received by another
// holder.
func unpost(o int32, p int) {
	ob := &objs[o]
	if ob.kind != objChannel {
		return
	}
	if int(ob.postProc) == p {
		ob.npost = 0
	}
	var prev uintptr
	for km := ob.mhead; km != 0; {
		k := msgAt(km)
		next := k.next
		if !k.posted || int(k.postProc) != p {
			prev, km = km, next
			continue
		}
		nm := newMsg(k.len)
		for off := uint32(0); nm != 0 && off < k.len; {
			c := msgChunk(nm, off)
			if !userCopyIn(p, c, k.postVA+uint64(off)) {
				freeMsgPages(nm)
				nm = 0
				break
			}
			off += uint32(len(c))
		}
		repl := next // what follows prev from now on
		if nm == 0 {
			ipcStats.Dropped++
			ob.mn--
			ob.mbytes -= k.len
		} else {
			ipcStats.Unposted++
			msgAt(nm).next = next
			repl = nm
			ob.mplain++
		}
		if prev == 0 {
			ob.mhead = repl
		} else {
			msgAt(prev).next = repl
		}
		if ob.mtail == km {
			ob.mtail = prev
			if nm != 0 {
				ob.mtail = nm
			}
		}
		freeMsgPages(km)
		if nm != 0 {
			prev = nm
		}
		km = next
	}
}

// blockedReceiver returns the first thread of wait queue q blocked
// receiving (not sending) whose process lives, or -1.
//
//go:nosplit
func blockedReceiver(q int16) int {
	for i := int(queues[q].head); i >= 0; i = int(th(i).next) {
		t := th(i)
		if t.wait == waitChanRecv && t.rmsg.Flags&abi.RecvPeek == 0 && pr(int(t.proc)).state == psLive {
			return i
		}
	}
	return -1
}

// queueMsg appends message km to endpoint dst's queue and wakes its
// waiters.
func queueMsg(dst int32, km uintptr) {
	ipcStats.Sent++
	d := &objs[dst]
	k := msgAt(km)
	k.next = 0
	if d.mtail != 0 {
		msgAt(d.mtail).next = km
	} else {
		d.mhead = km
	}
	d.mtail = km
	d.mn++
	if !k.posted {
		d.mplain++
	}
	d.mh += uint16(k.nh)
	d.mbytes += k.len
	if d.q >= 0 {
		wakeQueueRetry(d.q)
	}
	notify(dst)
}

// xfer moves message m (its bytes and plan's descriptors, from the
// running process), and the reply object reply if not -1, straight into
// a receive of process dp: rm is its abi.Msg as read when the receiver
// blocked (or made its call), dstVA where it lives. 0, or an error with
// dstFault telling whose: the destination's (its buffer unreachable, too
// small, its table full: nothing moved, though its buffer may have been
// written) or the sender's (its bytes unreadable).
func xfer(m *abi.Msg, plan *sendPlan, reply int32, dp int, dstVA uint64, rm *abi.Msg) (e uint64, dstFault bool) {
	d := *rm
	if m.Len > d.Cap || plan.nh > d.FdCap {
		return errno(EMSGSIZE), true
	}
	var fds [abi.MaxMessageHandles + 1]int32
	need := int(plan.nh)
	if reply >= 0 {
		need++
	}
	from := 0
	for i := 0; i < need; i++ {
		fd := lowestFd(dp, from)
		if fd < 0 {
			return errno(EMFILE), true
		}
		fds[i] = int32(fd)
		from = fd + 1
	}
	if dp == curProc() {
		// Within one process: the bytes go through the bounce page.
		for off := uint32(0); off < m.Len; {
			n := min(m.Len-off, pageSize)
			if !plan.copyIn(ipcBounce[:n], off) {
				return errno(EFAULT), false
			}
			plan.dropWindow() // the copy out may remap the page it shows
			if !copyOut(d.Data+uint64(off), ipcBounce[:n]) {
				return errno(EFAULT), true
			}
			off += n
		}
	} else {
		for off := uint32(0); off < m.Len; {
			dst, ok := userWindow(dp, d.Data+uint64(off), m.Len-off)
			if !ok {
				return errno(EFAULT), true
			}
			if !plan.copyIn(dst, off) {
				return errno(EFAULT), false
			}
			off += uint32(len(dst))
		}
	}
	if plan.nh > 0 && !userCopyOut(dp, d.Fds, bytesOf(unsafe.Pointer(&fds), uintptr(4*plan.nh))) {
		return errno(EFAULT), true
	}
	d.Len, d.NFds, d.Reply = m.Len, plan.nh, -1
	if reply >= 0 {
		d.Reply = fds[plan.nh]
	}
	if !userCopyOut(dp, dstVA, bytesOf(unsafe.Pointer(&d), abi.MsgSize)) {
		return errno(EFAULT), true
	}
	p := curProc()
	for i := uint32(0); i < plan.nh; i++ {
		fd := int(plan.fds[i])
		x := plan.objs[i]
		deny := pr(p).fds[fd].deny
		if plan.copy[i] {
			getObject(x)
		} else {
			unpost(x, p)
			pr(p).fds[fd] = fdEntry{obj: -1}
			epollForgetFd(p, fd, x)
		}
		pr(dp).fds[fds[i]] = fdEntry{obj: x, cloexec: true, deny: deny}
	}
	if reply >= 0 {
		pr(dp).fds[fds[plan.nh]] = fdEntry{obj: reply, cloexec: true, deny: abi.RightDup}
	}
	return 0, false
}

// userWindow returns kernel access to the bytes at va of process p, at
// most n, for writing, faulting the page in as p's own write would: the
// rest of the page, or the run of pages mapped alike onto consecutive
// memory from there (mm.WritableRun: a posted buffer in a driver's
// contiguous shared memory is one window).
func userWindow(p int, va uint64, n uint32) ([]byte, bool) {
	ptr, left, e := space(p).WritableRun(va, uint64(n))
	if e != 0 {
		return nil, false
	}
	return bytesOf(ptr, uintptr(min(uint64(n), left))), true
}

// deliver completes a receive of message km by process p into the
// abi.Msg at msgVA: the data, the descriptors (installed close-on-exec),
// the reply descriptor and abi.RecvMore if more. 0 or the error; on an
// error nothing changed except the sizes written back (EMSGSIZE says
// what is needed).
func deliver(km uintptr, p int, msgVA uint64, rm *abi.Msg, more bool) uint64 {
	m := *rm
	k := msgAt(km)
	if k.len > m.Cap || k.nh > m.FdCap {
		m.Len, m.NFds = k.len, k.nh
		if !userCopyOut(p, msgVA, bytesOf(unsafe.Pointer(&m), abi.MsgSize)) {
			return errno(EFAULT)
		}
		return errno(EMSGSIZE)
	}
	// Pick descriptors for what it carries.
	var fds [abi.MaxMessageHandles + 1]int32
	need := int(k.nh)
	if k.reply >= 0 {
		need++
	}
	from := 0
	for i := 0; i < need; i++ {
		fd := lowestFd(p, from)
		if fd < 0 {
			return errno(EMFILE)
		}
		fds[i] = int32(fd)
		from = fd + 1
	}
	switch {
	case k.posted && int(k.postProc) == p:
		m.Data = k.postVA // where it lies: written back below
	case k.posted:
		if !movePosted(k, p, m.Data) {
			return errno(EFAULT)
		}
	default:
		for off := uint32(0); off < k.len; {
			c := msgChunk(km, off)
			if !userCopyOut(p, m.Data+uint64(off), c) {
				return errno(EFAULT)
			}
			off += uint32(len(c))
		}
	}
	if k.nh > 0 && !userCopyOut(p, m.Fds, bytesOf(unsafe.Pointer(&fds), uintptr(4*k.nh))) {
		return errno(EFAULT)
	}
	m.Len, m.NFds, m.Reply, m.Flags = k.len, k.nh, -1, 0
	if k.reply >= 0 {
		m.Reply = fds[k.nh]
	}
	if more {
		m.Flags = abi.RecvMore
	}
	if !userCopyOut(p, msgVA, bytesOf(unsafe.Pointer(&m), abi.MsgSize)) {
		return errno(EFAULT)
	}
	for i := uint32(0); i < k.nh; i++ {
		pr(p).fds[fds[i]] = fdEntry{obj: k.h[i], cloexec: true, deny: k.deny[i]}
	}
	if k.reply >= 0 {
		pr(p).fds[fds[k.nh]] = fdEntry{obj: k.reply, cloexec: true, deny: abi.RightDup}
	}
	k.nh, k.reply = 0, -1 // moved: the pages can go
	return 0
}

// unpostAll unposts process p from every channel end it holds: its
// memory is about to be replaced (exec).
func unpostAll(p int) {
	for fd := 0; fd < maxFds; fd++ {
		if o := pr(p).fds[fd].obj; o >= 0 {
			unpost(o, p)
		}
	}
}

// movePosted gives posted message k to a receive by process p, not the
// poster (another holder of the endpoint), into p's buffer at va: the
// bytes are copied from the poster's buffer, a page at a time through the
// bounce page. (The poster's own receive takes it where it lies.)
func movePosted(k *kmsg, p int, va uint64) bool {
	for off := uint32(0); off < k.len; {
		n := min(k.len-off, pageSize)
		if !userCopyIn(int(k.postProc), ipcBounce[:n], k.postVA+uint64(off)) || !userCopyOut(p, va+uint64(off), ipcBounce[:n]) {
			return false
		}
		off += n
	}
	return true
}

// checkFds checks the descriptors of plan (read from the running
// process) for a message through endpoint o with peer: they exist, are
// not repeated, have the right their transfer needs, are not an end of
// this channel, and are not endpoints holding descriptors in transit.
//
//go:nosplit
func checkFds(o, peer int32, plan *sendPlan) uint64 {
	p := curProc()
	for i := uint32(0); i < plan.nh; i++ {
		fd := plan.fds[i]
		plan.copy[i] = fd&abi.FdCopy != 0
		fd &^= abi.FdCopy
		plan.fds[i] = fd
		if fd < 0 || fd >= maxFds || pr(p).fds[fd].obj < 0 {
			return errno(EBADF)
		}
		for j := uint32(0); j < i; j++ {
			if plan.fds[j] == fd {
				return errno(EINVAL)
			}
		}
		x := pr(p).fds[fd].obj
		need := uint8(abi.RightTransfer)
		if plan.copy[i] {
			need = abi.RightDup
		}
		if fdRights(p, int(fd))&need == 0 {
			return errno(EPERM)
		}
		if x == o || x == peer {
			return errno(EINVAL) // an end through its own channel
		}
		if objs[x].kind == objChannel && objs[x].mh > 0 && peer >= 0 && carriesEnd(x, peer) {
			return errno(EBUSY) // peer would hold x, which holds peer: a cycle
		}
		if x == consoleObj {
			return errno(EPERM)
		}
		plan.objs[i] = x
	}
	return 0
}

// carriesEnd reports whether channel end target is among the ends that
// the messages queued to end x carry, directly or through the ends those
// carry, and so on: sending x to target would then close a cycle of ends
// holding each other, which no holder could free. A breadth-first walk
// over the ends in transit (each visited once); x's own queue is where a
// sender's handshake caps lie (a driver's shared memory sent on accept),
// so this runs whenever an end with descriptors queued travels.
//
//go:nosplit
func carriesEnd(x, target int32) bool {
	const words = maxObjects / 64
	var seen, done [words]uint64
	seen[x/64] |= 1 << (x % 64)
	for more := true; more; {
		more = false
		for w := 0; w < words; w++ {
			for todo := seen[w] &^ done[w]; todo != 0; todo &= todo - 1 {
				o := int32(w*64 + bits.TrailingZeros64(todo))
				done[w] |= 1 << (o % 64)
				if objs[o].mh == 0 {
					continue
				}
				for km := objs[o].mhead; km != 0; km = msgAt(km).next {
					k := msgAt(km)
					for i := uint32(0); i < k.nh && i < abi.MaxMessageHandles; i++ {
						h := k.h[i]
						if h < 0 || h >= maxObjects || objs[h].kind != objChannel || seen[h/64]&(1<<(h%64)) != 0 {
							continue
						}
						if h == target {
							return true
						}
						seen[h/64] |= 1 << (h % 64)
						more = true
					}
				}
			}
		}
	}
	return false
}

// armos_chan_send(fd, msg, flags): flags abi.SendDontWait, abi.SendGather.
func sysChanSendFn(tf *Frame) uint64 {
	o, e := chanFd(tf.X[0], objChannel, abi.RightSend)
	if e != 0 {
		return e
	}
	flags := tf.X[2]
	if flags&^(abi.SendDontWait|abi.SendGather) != 0 {
		return errno(EINVAL)
	}
	var m abi.Msg
	if !readMsgArg(tf.X[1], &m) {
		return errno(EFAULT)
	}
	var plan sendPlan
	if e := checkSend(o, &m, &plan, flags&abi.SendGather != 0); e != 0 {
		if e == errno(EAGAIN) && objs[o].flags&oNONBLOCK == 0 && flags&abi.SendDontWait == 0 {
			return blockOn(tf, objQueue(objs[o].peer), waitChanSend, 0, 0)
		}
		return e
	}
	return sendTo(objs[o].peer, &m, &plan, -1)
}

// recvDeadline turns a deadline argument into a counter value for block:
// 0 none; abi.DontWait and passed deadlines report themselves.
//
//go:nosplit
func recvDeadline(arg uint64) (dl uint64, dontWait, passed bool) {
	switch arg {
	case abi.NoDeadline:
		return 0, false, false
	case abi.DontWait:
		return 0, true, false
	}
	dl = nsToTicks(arg)
	if dl <= now() {
		return 0, false, true
	}
	return dl, false, false
}

// armos_chan_recv(fd, msg, deadline)
func sysChanRecvFn(tf *Frame) uint64 {
	retryDeadline()
	o, e := chanFd(tf.X[0], objChannel, abi.RightRecv)
	if e != 0 {
		return e
	}
	ob := &objs[o]
	var m abi.Msg
	if !readMsgArg(tf.X[1], &m) {
		return errno(EFAULT)
	}
	if m.Flags&^(abi.RecvPeek|abi.RecvMore|abi.RecvPost) != 0 || m.Flags&(abi.RecvPeek|abi.RecvPost) == abi.RecvPeek|abi.RecvPost {
		return errno(EINVAL)
	}
	post := m.Flags&abi.RecvPost != 0
	m.Flags &^= abi.RecvMore | abi.RecvPost // RecvMore: an output bit, ignored on input
	if !post || int(ob.postProc) != curProc() {
		ob.npost = 0 // a receive without RecvPost, or another's, ends the postings
	}
	if ob.mn == 0 {
		if ob.peer < 0 {
			return errno(ECONNRESET)
		}
		dl, dontWait, passed := recvDeadline(tf.X[2])
		if passed {
			return errno(ETIMEDOUT)
		}
		if dontWait || ob.flags&oNONBLOCK != 0 {
			if post && m.Cap > 0 && accessOK(m.Data, uint64(m.Cap)) {
				addPost(ob, curProc(), &m)
			}
			return errno(EAGAIN)
		}
		// A sender hands its message straight to this receive (xfer):
		// it works from the Msg as it is now.
		th(cur).rmsg = m
		return blockOn(tf, objQueue(o), waitChanRecv, dl, errno(ETIMEDOUT))
	}
	km := ob.mhead
	k := msgAt(km)
	nh := k.nh
	if m.Flags&abi.RecvPeek != 0 {
		m.Len, m.NFds, m.Reply = k.len, k.nh, -1
		if k.reply >= 0 {
			m.Reply = 0
		}
		if !copyOut(tf.X[1], bytesOf(unsafe.Pointer(&m), abi.MsgSize)) {
			return errno(EFAULT)
		}
		return 0
	}
	// RecvMore: another receive would not wait, as another message is
	// queued behind this one or the peer is gone (then it fails with
	// ECONNRESET). A receiver that waits for readiness after a receive
	// without it is woken by the next message or the peer's close.
	more := k.next != 0 || ob.peer < 0
	if !k.posted {
		dropPost(ob, m.Data) // the buffer holds this message now
	}
	if e := deliver(km, curProc(), tf.X[1], &m, more); e != 0 {
		return e
	}
	if !k.posted {
		ob.mplain--
	}
	wasFull := ob.mn >= uint16(ob.qlen) || ob.mbytes >= abi.QueueBytes-abi.MaxMessageBytes
	ob.mhead = k.next
	if ob.mhead == 0 {
		ob.mtail = 0
	}
	ob.mn--
	ob.mbytes -= k.len
	ob.mh -= uint16(nh)
	freeMsgPages(km)
	ipcStats.Received++
	if wasFull && ob.peer >= 0 {
		wakeQueueRetry(ob.q) // senders waiting for room
		notify(ob.peer)
	}
	return 0
}

// armos_chan_call(fd, call, deadline)
func sysChanCallFn(tf *Frame) uint64 {
	o, e := chanFd(tf.X[0], objChannel, abi.RightSend)
	if e != 0 {
		return e
	}
	var c abi.Call
	if !copyIn(bytesOf(unsafe.Pointer(&c), unsafe.Sizeof(c)), tf.X[1]) {
		return errno(EFAULT)
	}
	dl, dontWait, passed := recvDeadline(tf.X[2])
	if dontWait {
		return errno(EINVAL) // a call always waits for its answer
	}
	if passed {
		return errno(ETIMEDOUT)
	}
	var plan sendPlan
	if e := checkSend(o, &c.Req, &plan, false); e != 0 {
		if e == errno(EAGAIN) && objs[o].flags&oNONBLOCK == 0 {
			return blockOn(tf, objQueue(objs[o].peer), waitChanSend, dl, errno(ETIMEDOUT))
		}
		return e
	}
	r := allocObject(objReply, oRDWR)
	if r < 0 {
		return errno(ENFILE)
	}
	t := th(cur)
	objs[r].caller = t.tid
	objs[r].callVA = tf.X[1]
	if e := sendTo(objs[o].peer, &c.Req, &plan, r); e != 0 {
		objs[r].caller = 0
		objs[r].kind = objFree
		return e
	}
	ipcStats.Calls++
	t.rmsg = c.Rep // the reply goes there (xfer)
	block(tf, -1, waitReply, dl, errno(ETIMEDOUT), false)
	t.key = objID(r)
	handoffSlice = true
	return 0
}

// armos_reply(replyfd, msg)
func sysReplyFn(tf *Frame) uint64 {
	return reply(tf, tf.X[0], tf.X[1])
}

// reply answers the call of reply descriptor rfd with the abi.Msg at
// msgVA: straight into the caller's reply buffers; the caller runs next.
func reply(tf *Frame, rfd, msgVA uint64) uint64 {
	p := curProc()
	o, e := chanFd(rfd, objReply, abi.RightSend)
	if e != 0 {
		return e
	}
	var m abi.Msg
	if !readMsgArg(msgVA, &m) {
		return errno(EFAULT)
	}
	caller := replyCaller(o)
	if caller < 0 {
		ipcStats.ReplyLost++
		closeFd(p, int(rfd))
		return errno(EPIPE)
	}
	var plan sendPlan
	if m.Len > abi.MaxMessageBytes || m.NFds > abi.MaxMessageHandles {
		return errno(EMSGSIZE)
	}
	if e := checkHandles(o, &m, &plan); e != 0 {
		return e
	}
	ct := th(caller)
	e, dstFault := xfer(&m, &plan, -1, int(ct.proc), objs[o].callVA+abi.MsgSize, &ct.rmsg)
	switch {
	case e == 0:
		ipcStats.Replies++
	case !dstFault || e == errno(EMSGSIZE) || e == errno(EMFILE):
		return e // the replier's to fix: it may answer again
	default:
		ipcStats.CallFailed++ // the caller's buffers are bad: it learns
	}
	objs[o].caller = 0
	closeFd(p, int(rfd))
	wakeFront(caller, e)
	return 0
}

// armos_reply_recv(replyfd, msg, fd, recvmsg, deadline): reply, then
// receive on fd, in one call (a server's loop). A reply that fails
// returns its error without receiving. The receive is an ordinary
// armos_chan_recv: the registers are rewritten to be one (number and
// arguments), so that a blocked receive retries as such.
func sysReplyRecvFn(tf *Frame) uint64 {
	if int64(tf.X[0]) >= 0 {
		if e := reply(tf, tf.X[0], tf.X[1]); e != 0 {
			if !writeU32(tf.X[1]+36, uint32(-int64(e))) {
				return errno(EFAULT)
			}
			if e != errno(EPIPE) {
				return e
			}
		}
	}
	tf.X[0], tf.X[1], tf.X[2] = tf.X[2], tf.X[3], tf.X[4]
	tf.X[regSyscallNo] = abi.SysChanRecv
	return sysChanRecvFn(tf)
}

// checkHandles checks the descriptors of a reply (as checkSend does for
// a message, with no channel of its own to refuse).
func checkHandles(o int32, m *abi.Msg, plan *sendPlan) uint64 {
	plan.nh = m.NFds
	if !plan.single(m) {
		return errno(EFAULT)
	}
	if m.NFds > 0 && !copyIn(bytesOf(unsafe.Pointer(&plan.fds), uintptr(4*m.NFds)), m.Fds) {
		return errno(EFAULT)
	}
	return checkFds(o, -1, plan)
}

// armos_handle_dup(fd, rights, flags)
//
//go:nosplit
func sysHandleDupFn(tf *Frame) uint64 {
	p := curProc()
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	if tf.X[2]&^oCLOEXEC != 0 || tf.X[1]&^abi.RightsAll != 0 {
		return errno(EINVAL)
	}
	have := fdRights(p, int(tf.X[0]))
	if have&abi.RightDup == 0 {
		return errno(EACCES)
	}
	want := uint8(tf.X[1])
	if want&^have != 0 {
		return errno(EPERM)
	}
	fd := lowestFd(p, 0)
	if fd < 0 {
		return errno(EMFILE)
	}
	getObject(o)
	pr(p).fds[fd] = fdEntry{obj: o, cloexec: tf.X[2]&oCLOEXEC != 0, deny: ^want &^ ipcFdDenied}
	return uint64(fd)
}

// armos_handle_info(fd, info)
func sysHandleInfoFn(tf *Frame) uint64 {
	p := curProc()
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	info := abi.HandleInfo{Type: abi.TypeOther, Rights: uint32(fdRights(p, int(tf.X[0]))), ID: objID(o)}
	switch objs[o].kind {
	case objChannel:
		info.Type = abi.TypeChannel
		if peer := objs[o].peer; peer >= 0 {
			info.Peer = objID(peer)
		}
	case objReply:
		info.Type = abi.TypeReply
	case objShm:
		info.Type = abi.TypeShm
	}
	if !copyOut(tf.X[1], bytesOf(unsafe.Pointer(&info), unsafe.Sizeof(info))) {
		return errno(EFAULT)
	}
	return 0
}

// pollChannel is an endpoint's readiness for epoll.
//
//go:nosplit
func pollChannel(o int32) uint32 {
	ob := &objs[o]
	var ev uint32
	if ob.mn > 0 {
		ev |= epollIn
	}
	if ob.peer < 0 {
		return ev | epollHup | epollRdhup
	}
	po := &objs[ob.peer]
	if po.mn < uint16(po.qlen) && po.mbytes+abi.MaxMessageBytes <= abi.QueueBytes {
		ev |= epollOut
	}
	return ev
}
