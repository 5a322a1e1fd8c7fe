package rt

import (
	"unsafe"

	"armos/abi"
	"armos/microkernel/internal/mm"
)

// File descriptors and the objects behind them.
//
// Each process has a descriptor table (process.fds): a descriptor names an
// object and carries the close-on-exec flag; the object (an "open file
// description" in POSIX terms) carries the status flags (O_NONBLOCK, the
// access mode) and a reference count, so dup'ed and inherited descriptors
// share it as on Linux. Object kinds: the console, /dev/null, pipe ends,
// eventfds, epoll instances and files of the boot image.
//
// Blocking: a call that must wait (reading an empty pipe, epoll_pwait with
// nothing ready...) blocks its thread on the object's wait queue; when the
// object's state changes, the waiters are woken to *retry* their call
// (their PC is moved back onto the SVC, with the original arguments still
// in their registers), so every call completes in the context of the
// thread that made it, reaching only its own memory. A retried call keeps
// its original deadline (thread.retryDL).
//
// Readiness for epoll is edge-triggered as Linux's EPOLLET (which Go's
// netpoller uses): every state change of an object marks the interests
// watching it, and epoll_pwait reports a marked interest whose object is
// ready; level-triggered interests are reported while ready.

const (
	maxObjects   = 1024
	maxPipes     = 256
	pipePages    = 4 // pipe capacity: 16 KiB
	pipeCapacity = pipePages * pageSize
	maxWatchers  = 4   // epoll instances watching one object
	maxInterests = 160 // interests of one epoll instance (one page)
	// maxIOChunk bounds what one read or write moves (console output,
	// pipes), so no system call holds the kernel lock for long; a longer
	// request is a short read or write, which every caller loops over.
	maxIOChunk = 4096
)

// Object kinds.
const (
	objFree = iota
	objConsole
	objNull
	objPipeRead
	objPipeWrite
	objEventfd
	objEpoll
	objFile
	objChannel // an IPC channel end (chan.go)
	objReply   // the reply capability of an IPC call (chan.go)
	objShm     // shared memory (shm.go)
	objIRQ     // a device's interrupt (irq.go)
	objPidfd   // a process, readable once it has ended (irq.go)
	objDevice  // a device to attach (devices.go)
)

// Open flags (include/uapi/asm-generic/fcntl.h).
const (
	oRDONLY   = 0
	oWRONLY   = 1
	oRDWR     = 2
	oAccMode  = 3
	oNONBLOCK = 0x800
	oCLOEXEC  = 0x80000
	oAPPEND   = 0x400
)

// epoll constants (include/uapi/linux/eventpoll.h).
const (
	epollCtlAdd  = 1
	epollCtlDel  = 2
	epollCtlMod  = 3
	epollIn      = 0x1
	epollPri     = 0x2
	epollOut     = 0x4
	epollErr     = 0x8
	epollHup     = 0x10
	epollRdhup   = 0x2000
	epollExcl    = 1 << 28
	epollOneshot = 1 << 30
	epollET      = 1 << 31
	epollCloexec = oCLOEXEC
	// epollWakeup (EPOLLWAKEUP) is accepted and means nothing here.
	epollWakeup = 1 << 29
	// epollPrivate are the interest bits that are not events: what a
	// oneshot interest keeps when it fires (disarmed until EPOLL_CTL_MOD).
	epollPrivate = epollWakeup | epollOneshot | epollET | epollExcl
)

// fcntl commands.
const (
	fDupfd        = 0
	fGetfd        = 1
	fSetfd        = 2
	fGetfl        = 3
	fSetfl        = 4
	fDupfdCloexec = 1030
	fdCloexec     = 1
)

// fdEntry is one descriptor: the object it names (-1: closed), FD_CLOEXEC
// and the abi.Right* bits taken away from it (none: every right).
type fdEntry struct {
	obj     int32
	cloexec bool
	deny    uint8
}

// watcher is an epoll interest watching an object.
type watcher struct {
	ep  int32 // epoll object, -1: unused
	idx int16 // interest index in that instance
}

// object is an open file description.
type object struct {
	kind     uint8
	flags    uint32 // access mode and O_NONBLOCK / O_APPEND
	refs     int32
	q        int16  // threads waiting on it (eventfd readers/writers, epoll waiters)
	pipe     int16  // pipe ends: the pipe
	count    uint64 // eventfd counter
	sema     bool   // eventfd semaphore mode
	page     uintptr
	pos      uint64 // files: offset
	fileOff  uint64 // files: where the data starts in the boot image
	fileSize uint64
	fileMode uint32
	fileIno  uint64
	watch    [maxWatchers]watcher

	gen uint32 // lives of this slot: part of the object's ID (objID)
	// channel ends (chan.go): the peer (-1 once it closed) and the queue
	// of messages sent to this end, its length, the descriptors and bytes
	// in it
	peer         int32
	mhead, mtail uintptr
	mn, mh       uint16
	mbytes       uint32
	qlen         uint8 // the queue's bound in messages (abi.QueueLen or less)
	// receive buffers posted on this end (abi.RecvPost) by process
	// postProc, oldest first, and how many queued messages are not
	// posted ones (a send goes into a posted buffer only while none is)
	posts    [abi.MaxPosted]postBuf
	npost    uint8
	postProc int32
	mplain   uint16
	intid    uint32 // an interrupt object's INTID
	pid      int32  // a process descriptor's process
	dev      int32  // a device descriptor's device
	// reply objects: the caller waiting (its tid; 0 when answered) and
	// the address of its abi.Call
	caller int32
	callVA uint64
}

// pipeState is a pipe: a ring buffer of pipePages pages and its two ends.
type pipeState struct {
	used       bool
	buf        uintptr // kernel address of the ring
	rd, wr     uint64  // bytes read and written so far (wr-rd are buffered)
	readers    int32   // read-end objects open
	writers    int32
	rq, wq     int16 // blocked readers, blocked writers
	rObj, wObj int32 // the end objects (for epoll notifications)
}

// interest is one epoll registration.
type interest struct {
	used    bool
	pending bool // the object changed since last reported (edge)
	fd      int32
	obj     int32
	events  uint32
	data    uint64
}

// epollState is an epoll instance's page.
type epollState struct {
	n   int32
	hi  int32 // 1 + the highest slot in use: the scans stop there
	ins [maxInterests]interest
}

// dropInterest frees slot i of es and lowers hi past free slots.
//
//go:nosplit
func (es *epollState) dropInterest(i int) {
	es.ins[i] = interest{}
	es.n--
	for es.hi > 0 && !es.ins[es.hi-1].used {
		es.hi--
	}
}

var (
	objs  [maxObjects]object
	pipes [maxPipes]pipeState
)

// The console object: shared by every process's descriptors 0-2.
const consoleObj = 0

// initFiles sets up the object table: the console object, and fds 0-2 of
// the kernel on it.
func initFiles() {
	for i := range objs {
		objs[i] = object{q: -1, pipe: -1}
		for w := range objs[i].watch {
			objs[i].watch[w].ep = -1
		}
	}
	for i := range pipes {
		pipes[i] = pipeState{}
	}
	ipcPages, ipcPageLimit, relMsgs, releasing = 0, 0, 0, false
	ipcStats = IPCStats{}
	handoffSlice = false
	irqObj = [maxINTID]int32{}
	shmPages = 0
	consoleIn.r, consoleIn.w = 0, 0
	objs[consoleObj].kind = objConsole
	objs[consoleObj].flags = oRDWR
	objs[consoleObj].refs = 1 // never freed
	for fd := 0; fd < 3; fd++ {
		installFd(0, fd, consoleObj, false)
	}
}

// allocObject returns a fresh object of kind with one reference, or -1.
//
//go:nosplit
func allocObject(kind uint8, flags uint32) int32 {
	for i := 1; i < maxObjects; i++ {
		if objs[i].kind == objFree {
			o := &objs[i]
			*o = object{kind: kind, flags: flags, refs: 1, q: -1, pipe: -1, peer: -1, gen: o.gen + 1}
			for w := range o.watch {
				o.watch[w].ep = -1
			}
			return int32(i)
		}
	}
	stats.FileFailed++
	return -1
}

// installFd points descriptor fd of process p at object o (taking over one
// reference).
//
//go:nosplit
func installFd(p, fd int, o int32, cloexec bool) {
	pr(p).fds[fd] = fdEntry{obj: o, cloexec: cloexec}
}

// lowestFd returns the lowest free descriptor >= from of process p, or -1.
//
//go:nosplit
func lowestFd(p int, from int) int {
	pp := pr(p)
	for fd := from; fd < maxFds; fd++ {
		if pp.fds[fd].obj < 0 {
			return fd
		}
	}
	return -1
}

// newFd installs o at the lowest free descriptor of the running process
// and returns it, or releases o and returns -EMFILE.
//
//go:nosplit
func newFd(o int32, cloexec bool) uint64 {
	p := curProc()
	fd := lowestFd(p, 0)
	if fd < 0 {
		putObject(o)
		stats.FileFailed++
		return errno(EMFILE)
	}
	installFd(p, fd, o, cloexec)
	return uint64(fd)
}

// fdObject returns the object of descriptor fd of the running process, or -1.
//
//go:nosplit
func fdObject(fd uint64) int32 {
	if fd >= maxFds {
		return -1
	}
	return pr(curProc()).fds[fd].obj
}

// getObject takes a reference to o.
//
//go:nosplit
func getObject(o int32) { objs[o].refs++ }

// putObject drops a reference to o; the last one closes it (and what an
// IPC endpoint's queue held: drainReleases).
func putObject(o int32) {
	dropObject(o)
	drainReleases()
}

// dropObject drops a reference to o; the last one closes it.
func dropObject(o int32) {
	ob := &objs[o]
	ob.refs--
	if ob.refs > 0 || o == consoleObj {
		return
	}
	switch ob.kind {
	case objPipeRead, objPipeWrite:
		closePipeEnd(o)
	case objEpoll:
		epollRelease(o)
	case objChannel:
		closeEndpoint(o)
	case objReply:
		closeReply(o)
	case objShm:
		closeShm(o)
	case objIRQ:
		closeIRQ(o)
	case objDevice:
		closeDevice(o)
	}
	// Waiters retry and find the descriptor closed.
	if ob.q >= 0 {
		wakeQueueRetry(ob.q)
		freeQueueID(ob.q)
	}
	unwatchAll(o)
	if ob.page != 0 {
		freePages(physOf(ob.page), 1)
	}
	ob.kind = objFree
}

// closeFd closes descriptor fd of process p.
//
//go:nosplit
func closeFd(p, fd int) bool {
	pp := pr(p)
	o := pp.fds[fd].obj
	if o < 0 {
		return false
	}
	unpost(o, p)
	pp.fds[fd] = fdEntry{obj: -1}
	epollForgetFd(p, fd, o)
	putObject(o)
	return true
}

// closeAllFiles closes every descriptor of process p.
//
//go:nosplit
func closeAllFiles(p int) {
	for fd := 0; fd < maxFds; fd++ {
		closeFd(p, fd)
	}
}

// closeOnExec closes the descriptors of process p marked FD_CLOEXEC.
//
//go:nosplit
func closeOnExec(p int) {
	pp := pr(p)
	for fd := 0; fd < maxFds; fd++ {
		if pp.fds[fd].obj >= 0 && pp.fds[fd].cloexec {
			closeFd(p, fd)
		}
	}
}

// copyFiles gives child a copy of parent's descriptor table (fork, vfork).
//
//go:nosplit
func copyFiles(child, parent int) {
	c, pp := pr(child), pr(parent)
	for fd := 0; fd < maxFds; fd++ {
		c.fds[fd] = pp.fds[fd]
		if o := c.fds[fd].obj; o >= 0 {
			getObject(o)
		}
	}
}

// objQueue returns o's wait queue, creating it (eventfds and epoll
// instances get theirs when they are created).
//
//go:nosplit
func objQueue(o int32) int16 {
	if objs[o].q < 0 {
		objs[o].q = allocQueue()
	}
	return objs[o].q
}

// wakeQueueRetry wakes every thread of q to retry its call.
//
//go:nosplit
func wakeQueueRetry(q int16) {
	for q >= 0 && queues[q].head >= 0 {
		wakeRetry(int(queues[q].head))
	}
}

// wakeRetry wakes blocked thread i so that it makes its system call again
// (same arguments; its deadline kept in retryDL).
//
//go:nosplit
func wakeRetry(i int) {
	t := th(i)
	dl := uint64(0)
	if t.heapIdx >= 0 {
		dl = t.deadline
	}
	unlink(i)
	t.retryDL = dl
	t.regs.PC -= 4
	makeRunnable(i)
}

// retryDeadline returns the deadline a retried call keeps (0 if none or a
// fresh call) and forgets it.
//
//go:nosplit
func retryDeadline() uint64 {
	t := th(cur)
	dl := t.retryDL
	t.retryDL = 0
	return dl
}

// blockOn blocks the running thread on object o's queue q to retry its
// call when o changes, until deadline (0: none), interruptibly.
//
//go:nosplit
func blockOn(tf *Frame, q int16, reason uint8, deadline uint64, tmo uint64) uint64 {
	if q < 0 {
		return errno(ENOMEM)
	}
	block(tf, q, reason, deadline, tmo, true)
	return 0
}

// notify tells whoever waits for object o that its state changed: epoll
// interests watching it are marked and their waiters retry.
//
//go:nosplit
func notify(o int32) {
	if o < 0 {
		return
	}
	ob := &objs[o]
	for w := range ob.watch {
		wt := ob.watch[w]
		if wt.ep < 0 {
			continue
		}
		es := epollOf(wt.ep)
		if es != nil && int(wt.idx) < maxInterests && es.ins[wt.idx].used {
			es.ins[wt.idx].pending = true
		}
		if q := objs[wt.ep].q; q >= 0 {
			wakeQueueRetry(q)
		}
	}
}

// poll returns object o's current readiness (EPOLL* bits).
//
//go:nosplit
func poll(o int32) uint32 {
	ob := &objs[o]
	switch ob.kind {
	case objConsole:
		if consoleReadable() {
			return epollIn | epollOut
		}
		return epollOut
	case objNull:
		return epollIn | epollOut
	case objPipeRead:
		ps := &pipes[ob.pipe]
		var ev uint32
		if ps.wr != ps.rd {
			ev |= epollIn
		}
		if ps.writers == 0 {
			ev |= epollHup | epollRdhup
		}
		return ev
	case objPipeWrite:
		ps := &pipes[ob.pipe]
		if ps.readers == 0 {
			return epollErr | epollOut
		}
		if ps.wr-ps.rd < pipeCapacity {
			return epollOut
		}
		return 0
	case objEventfd:
		ev := uint32(0)
		if ob.count > 0 {
			ev |= epollIn
		}
		if ob.count < 1<<64-2 {
			ev |= epollOut
		}
		return ev
	case objFile:
		return epollIn | epollOut
	case objChannel:
		return pollChannel(o)
	case objIRQ:
		if ob.count > 0 {
			return epollIn | epollOut
		}
		return epollOut
	case objPidfd:
		if p := findPid(ob.pid); p < 0 || pr(p).state != psLive {
			return epollIn
		}
		return 0
	}
	return 0
}

// Descriptor system calls.

// close(fd)
//
//go:nosplit
func sysCloseFn(tf *Frame) uint64 {
	if tf.X[0] >= maxFds || !closeFd(curProc(), int(tf.X[0])) {
		return errno(EBADF)
	}
	return 0
}

// dup(fd)
//
//go:nosplit
func sysDupFn(tf *Frame) uint64 {
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	p := curProc()
	deny := pr(p).fds[tf.X[0]].deny
	if fdRights(p, int(tf.X[0]))&abi.RightDup == 0 {
		return errno(EACCES)
	}
	getObject(o)
	fd := newFd(o, false)
	if int64(fd) >= 0 {
		pr(p).fds[fd].deny = deny
	}
	return fd
}

// dup3(old, new, flags)
//
//go:nosplit
func sysDup3Fn(tf *Frame) uint64 {
	o := fdObject(tf.X[0])
	if o < 0 || tf.X[1] >= maxFds {
		return errno(EBADF)
	}
	if tf.X[0] == tf.X[1] || tf.X[2]&^oCLOEXEC != 0 {
		return errno(EINVAL)
	}
	p := curProc()
	if fdRights(p, int(tf.X[0]))&abi.RightDup == 0 {
		return errno(EACCES)
	}
	deny := pr(p).fds[tf.X[0]].deny
	getObject(o)
	closeFd(p, int(tf.X[1]))
	installFd(p, int(tf.X[1]), o, tf.X[2]&oCLOEXEC != 0)
	pr(p).fds[tf.X[1]].deny = deny
	return tf.X[1]
}

// fcntl(fd, cmd, arg)
//
//go:nosplit
func sysFcntlFn(tf *Frame) uint64 {
	p := curProc()
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	e := &pr(p).fds[tf.X[0]]
	switch tf.X[1] {
	case fDupfd, fDupfdCloexec:
		if tf.X[2] >= maxFds {
			return errno(EINVAL)
		}
		if fdRights(p, int(tf.X[0]))&abi.RightDup == 0 {
			return errno(EACCES)
		}
		fd := lowestFd(p, int(tf.X[2]))
		if fd < 0 {
			return errno(EMFILE)
		}
		getObject(o)
		installFd(p, fd, o, tf.X[1] == fDupfdCloexec)
		pr(p).fds[fd].deny = e.deny
		return uint64(fd)
	case fGetfd:
		if e.cloexec {
			return fdCloexec
		}
		return 0
	case fSetfd:
		e.cloexec = tf.X[2]&fdCloexec != 0
		return 0
	case fGetfl:
		return uint64(objs[o].flags)
	case fSetfl:
		ob := &objs[o]
		ob.flags = ob.flags&^(oNONBLOCK|oAPPEND) | uint32(tf.X[2])&(oNONBLOCK|oAPPEND)
		return 0
	}
	return errno(EINVAL)
}

// accessOK reports whether [va, va+n) can be user memory of the running
// process at all (Linux's access_ok: no wrap-around, below the end of the
// user half; the kernel's own runtime passes kernel addresses). Calls check
// it before anything else, so a hopeless buffer is EFAULT at once.
//
//go:nosplit
func accessOK(va, n uint64) bool {
	if va+n < va {
		return false
	}
	return curProc() == 0 || va+n <= mm.UserHigh
}

// read(fd, buf, count)
func sysReadFn(tf *Frame) uint64 {
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	if objs[o].flags&oAccMode == oWRONLY {
		return errno(EBADF)
	}
	if !accessOK(tf.X[1], tf.X[2]) {
		return errno(EFAULT)
	}
	return readObject(tf, o, tf.X[1], tf.X[2], false, 0)
}

// readv(fd, iov, iovcnt): the first buffer that can take data gets it (a
// short read, which callers loop over).
func sysReadvFn(tf *Frame) uint64 {
	fd, iov, cnt := tf.X[0], tf.X[1], tf.X[2]
	o := fdObject(fd)
	if o < 0 {
		return errno(EBADF)
	}
	if cnt > 1024 {
		return errno(EINVAL)
	}
	if objs[o].flags&oAccMode == oWRONLY {
		return errno(EBADF)
	}
	for k := uint64(0); k < cnt; k++ {
		var v iovec
		if !copyIn(bytesOf(unsafe.Pointer(&v), unsafe.Sizeof(v)), iov+k*16) {
			return errno(EFAULT)
		}
		if int64(v.len) < 0 {
			return errno(EINVAL)
		}
		if v.len == 0 {
			continue
		}
		if !accessOK(v.base, v.len) {
			return errno(EFAULT)
		}
		orig, sub := *tf, *tf // tf may be the thread's regs, which block fills
		r := readObject(&sub, o, v.base, v.len, false, 0)
		if th(cur).state == tsBlocked {
			th(cur).regs = orig // the whole readv is retried
		}
		return r
	}
	return 0
}

// pread64(fd, buf, count, offset)
func sysPreadFn(tf *Frame) uint64 {
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	if objs[o].kind != objFile {
		return errno(ESPIPE)
	}
	if int64(tf.X[3]) < 0 {
		return errno(EINVAL)
	}
	if !accessOK(tf.X[1], tf.X[2]) {
		return errno(EFAULT)
	}
	return readObject(tf, o, tf.X[1], tf.X[2], true, tf.X[3])
}

// readObject reads up to n bytes of object o into va.
func readObject(tf *Frame, o int32, va, n uint64, at bool, off uint64) uint64 {
	ob := &objs[o]
	switch ob.kind {
	case objConsole:
		return consoleRead(tf, va, n, objs[o].flags&oNONBLOCK != 0)
	case objNull:
		return 0 // end of file
	case objPipeRead:
		return pipeRead(tf, o, va, n)
	case objEventfd:
		return eventfdRead(tf, o, va, n)
	case objFile:
		return fileRead(o, va, n, at, off)
	case objIRQ:
		return irqRead(tf, o, va, n)
	}
	return errno(EINVAL)
}

// write(fd, buf, count)
func sysWriteFn(tf *Frame) uint64 {
	o, e := writableFd(tf.X[0])
	if e != 0 {
		return e
	}
	if !accessOK(tf.X[1], tf.X[2]) {
		return errno(EFAULT)
	}
	return writeObject(tf, o, tf.X[1], tf.X[2], true)
}

// writableFd returns the object of descriptor fd if it is open for
// writing, else the error (EBADF).
//
//go:nosplit
func writableFd(fd uint64) (int32, uint64) {
	o := fdObject(fd)
	if o < 0 {
		return -1, errno(EBADF)
	}
	if objs[o].flags&oAccMode == oRDONLY && objs[o].kind != objConsole {
		return -1, errno(EBADF)
	}
	return o, 0
}

// writeObject writes up to n bytes at va to object o. With mayBlock false
// a full pipe or eventfd is EAGAIN, as if it were non-blocking.
func writeObject(tf *Frame, o int32, va, n uint64, mayBlock bool) uint64 {
	switch objs[o].kind {
	case objConsole:
		return consoleWrite(curProc(), va, n)
	case objNull:
		return n
	case objPipeWrite:
		return pipeWrite(tf, o, va, n, mayBlock)
	case objEventfd:
		return eventfdWrite(tf, o, va, n, mayBlock)
	case objIRQ:
		return irqAck(o, n)
	}
	return errno(EINVAL)
}

type iovec struct{ base, len uint64 }

// writev(fd, iov, iovcnt): each buffer in turn, stopping at a short write.
// Only the first buffer that has bytes may block, and then the whole call
// is retried (its registers are the writev's own); once something is
// written, a full pipe ends the call with what was written.
func sysWritevFn(tf *Frame) uint64 {
	fd, iov, cnt := tf.X[0], tf.X[1], tf.X[2]
	o, e := writableFd(fd)
	if e != 0 {
		return e
	}
	if cnt > 1024 {
		return errno(EINVAL)
	}
	total := uint64(0)
	for k := uint64(0); k < cnt; k++ {
		var v iovec
		if !copyIn(bytesOf(unsafe.Pointer(&v), unsafe.Sizeof(v)), iov+k*16) {
			return partial(total, errno(EFAULT))
		}
		if int64(v.len) < 0 {
			return partial(total, errno(EINVAL))
		}
		if v.len == 0 {
			continue
		}
		if !accessOK(v.base, v.len) {
			return partial(total, errno(EFAULT))
		}
		r := writeObject(tf, o, v.base, v.len, total == 0)
		if th(cur).state == tsBlocked {
			return r // total is 0: the writev is retried as it was made
		}
		if int64(r) < 0 {
			return partial(total, r)
		}
		total += r
		if r < v.len {
			break
		}
	}
	return total
}

// partial is the result of a call that failed with err after moving
// done bytes: the bytes if any, else the error.
//
//go:nosplit
func partial(done, err uint64) uint64 {
	if done > 0 {
		return done
	}
	return err
}

// lseek(fd, offset, whence)
//
//go:nosplit
func sysLseekFn(tf *Frame) uint64 {
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	ob := &objs[o]
	if ob.kind != objFile {
		return errno(ESPIPE)
	}
	var base int64
	switch tf.X[2] {
	case 0: // SEEK_SET
	case 1: // SEEK_CUR
		base = int64(ob.pos)
	case 2: // SEEK_END
		base = int64(ob.fileSize)
	default:
		return errno(EINVAL)
	}
	pos := base + int64(tf.X[1])
	if pos < 0 {
		return errno(EINVAL)
	}
	ob.pos = uint64(pos)
	return uint64(pos)
}

// pipe2(fds, flags)
func sysPipe2Fn(tf *Frame) uint64 {
	flags := uint32(tf.X[1])
	if flags&^(oCLOEXEC|oNONBLOCK) != 0 {
		return errno(EINVAL)
	}
	p := curProc()
	r := lowestFd(p, 0)
	if r < 0 {
		return errno(EMFILE)
	}
	pr(p).fds[r].obj = -2 // hold it while looking for the second
	w := lowestFd(p, r+1)
	pr(p).fds[r].obj = -1
	if w < 0 {
		return errno(EMFILE)
	}
	pi := -1
	for i := range pipes {
		if !pipes[i].used {
			pi = i
			break
		}
	}
	if pi < 0 {
		stats.FileFailed++
		return errno(ENFILE)
	}
	_, buf := allocPages(pipePages)
	if buf == 0 {
		return errno(ENOMEM)
	}
	ro := allocObject(objPipeRead, oRDONLY|flags&oNONBLOCK)
	if ro < 0 {
		freePages(physOf(buf), pipePages)
		return errno(ENFILE)
	}
	wo := allocObject(objPipeWrite, oWRONLY|flags&oNONBLOCK)
	if wo < 0 {
		objs[ro].kind = objFree
		freePages(physOf(buf), pipePages)
		return errno(ENFILE)
	}
	q1, q2 := allocQueue(), allocQueue()
	if q1 < 0 || q2 < 0 {
		freeQueueID(q1)
		freeQueueID(q2)
		objs[ro].kind, objs[wo].kind = objFree, objFree
		freePages(physOf(buf), pipePages)
		return errno(ENFILE)
	}
	pipes[pi] = pipeState{used: true, buf: buf, readers: 1, writers: 1, rq: q1, wq: q2, rObj: ro, wObj: wo}
	objs[ro].pipe, objs[wo].pipe = int16(pi), int16(pi)
	fds := [2]int32{int32(r), int32(w)}
	if !copyOut(tf.X[0], bytesOf(unsafe.Pointer(&fds), 8)) {
		putObject(ro)
		putObject(wo)
		return errno(EFAULT)
	}
	installFd(p, r, ro, flags&oCLOEXEC != 0)
	installFd(p, w, wo, flags&oCLOEXEC != 0)
	return 0
}

// closePipeEnd is the last close of a pipe end: the other side learns
// (EOF, EPIPE), and the pipe goes when both ends are closed.
//
//go:nosplit
func closePipeEnd(o int32) {
	ob := &objs[o]
	ps := &pipes[ob.pipe]
	if ob.kind == objPipeRead {
		ps.readers--
		ps.rObj = -1
		wakeQueueRetry(ps.wq)
		notify(ps.wObj)
	} else {
		ps.writers--
		ps.wObj = -1
		wakeQueueRetry(ps.rq)
		notify(ps.rObj)
	}
	if ps.readers == 0 && ps.writers == 0 {
		freeQueueID(ps.rq)
		freeQueueID(ps.wq)
		freePages(physOf(ps.buf), pipePages)
		*ps = pipeState{}
	}
}

// pipeRead reads from a pipe's read end.
//
//go:nosplit
func pipeRead(tf *Frame, o int32, va, n uint64) uint64 {
	ob := &objs[o]
	ps := &pipes[ob.pipe]
	if n == 0 {
		return 0
	}
	avail := ps.wr - ps.rd
	if avail == 0 {
		if ps.writers == 0 {
			return 0 // end of file
		}
		if ob.flags&oNONBLOCK != 0 {
			return errno(EAGAIN)
		}
		return blockOn(tf, ps.rq, waitPipe, 0, 0)
	}
	if n > avail {
		n = avail
	}
	if n > maxIOChunk {
		n = maxIOChunk
	}
	done := uint64(0)
	for done < n {
		off := (ps.rd + done) % pipeCapacity
		k := n - done
		if k > pipeCapacity-off {
			k = pipeCapacity - off
		}
		if !copyOut(va+done, bytesOf(ptrOf(ps.buf+uintptr(off)), uintptr(k))) {
			if done == 0 {
				return errno(EFAULT)
			}
			break
		}
		done += k
	}
	wasFull := ps.wr-ps.rd == pipeCapacity
	ps.rd += done
	if wasFull || done > 0 {
		wakeQueueRetry(ps.wq)
		notify(ps.wObj)
	}
	return done
}

// pipeWrite writes to a pipe's write end. A blocking write that does not
// fit writes what fits and returns it (a short write: every caller loops),
// or blocks when nothing fits.
func pipeWrite(tf *Frame, o int32, va, n uint64, mayBlock bool) uint64 {
	ob := &objs[o]
	ps := &pipes[ob.pipe]
	if n == 0 {
		return 0 // as on Linux, even with no reader: no EPIPE, no SIGPIPE
	}
	if ps.readers == 0 {
		signalThread(cur, sigPIPE)
		return errno(EPIPE)
	}
	space := pipeCapacity - (ps.wr - ps.rd)
	if space == 0 {
		if ob.flags&oNONBLOCK != 0 || !mayBlock {
			return errno(EAGAIN)
		}
		return blockOn(tf, ps.wq, waitPipe, 0, 0)
	}
	if n > space {
		n = space
	}
	if n > maxIOChunk {
		n = maxIOChunk
	}
	done := uint64(0)
	for done < n {
		off := (ps.wr + done) % pipeCapacity
		k := n - done
		if k > pipeCapacity-off {
			k = pipeCapacity - off
		}
		if !copyIn(bytesOf(ptrOf(ps.buf+uintptr(off)), uintptr(k)), va+done) {
			if done == 0 {
				return errno(EFAULT)
			}
			break
		}
		done += k
	}
	ps.wr += done
	if done > 0 {
		wakeQueueRetry(ps.rq)
		notify(ps.rObj)
	}
	return done
}

// eventfd2(initval, flags)
//
//go:nosplit
func sysEventfd2Fn(tf *Frame) uint64 {
	const efdSemaphore = 1
	flags := uint32(tf.X[1])
	if flags&^(oCLOEXEC|oNONBLOCK|efdSemaphore) != 0 {
		return errno(EINVAL)
	}
	o := allocObject(objEventfd, oRDWR|flags&oNONBLOCK)
	if o < 0 {
		return errno(ENFILE)
	}
	if objQueue(o) < 0 {
		putObject(o)
		return errno(ENFILE)
	}
	objs[o].count = uint64(uint32(tf.X[0]))
	objs[o].sema = flags&efdSemaphore != 0
	return newFd(o, flags&oCLOEXEC != 0)
}

// eventfdRead hands over the counter (or 1 in semaphore mode).
//
//go:nosplit
func eventfdRead(tf *Frame, o int32, va, n uint64) uint64 {
	ob := &objs[o]
	if n < 8 {
		return errno(EINVAL)
	}
	if ob.count == 0 {
		if ob.flags&oNONBLOCK != 0 {
			return errno(EAGAIN)
		}
		return blockOn(tf, objQueue(o), waitEventfd, 0, 0)
	}
	v := ob.count
	if ob.sema {
		v = 1
	}
	if !writeU64(va, v) {
		return errno(EFAULT)
	}
	ob.count -= v
	if ob.q >= 0 {
		wakeQueueRetry(ob.q)
	}
	notify(o)
	return 8
}

// eventfdWrite adds to the counter.
//
//go:nosplit
func eventfdWrite(tf *Frame, o int32, va, n uint64, mayBlock bool) uint64 {
	ob := &objs[o]
	if n < 8 {
		return errno(EINVAL)
	}
	v, ok := readU64(va)
	if !ok {
		return errno(EFAULT)
	}
	if v == ^uint64(0) {
		return errno(EINVAL)
	}
	if ob.count+v < ob.count || ob.count+v > ^uint64(0)-1 {
		if ob.flags&oNONBLOCK != 0 || !mayBlock {
			return errno(EAGAIN)
		}
		return blockOn(tf, objQueue(o), waitEventfd, 0, 0)
	}
	ob.count += v
	if v > 0 {
		if ob.q >= 0 {
			wakeQueueRetry(ob.q)
		}
		notify(o)
	}
	return 8
}

// epoll_create1(flags)
//
//go:nosplit
func sysEpollCreate1Fn(tf *Frame) uint64 {
	if tf.X[0]&^epollCloexec != 0 {
		return errno(EINVAL)
	}
	o := allocObject(objEpoll, oRDWR)
	if o < 0 {
		return errno(ENFILE)
	}
	_, pg := allocPages(1)
	if pg == 0 {
		objs[o].kind = objFree
		return errno(ENOMEM)
	}
	objs[o].page = pg
	if objQueue(o) < 0 {
		putObject(o)
		return errno(ENFILE)
	}
	return newFd(o, tf.X[0]&epollCloexec != 0)
}

// epollOf returns the interest list of epoll object ep.
//
//go:nosplit
func epollOf(ep int32) *epollState {
	if ep < 0 || objs[ep].kind != objEpoll || objs[ep].page == 0 {
		return nil
	}
	return (*epollState)(ptrOf(objs[ep].page))
}

// epollEvent is struct epoll_event on linux/arm64 (not packed: 16 bytes).
type epollEvent struct {
	Events uint32
	_      uint32
	Data   uint64
}

// epoll_ctl(epfd, op, fd, event)
func sysEpollCtlFn(tf *Frame) uint64 {
	ep, fd, op := fdObject(tf.X[0]), tf.X[2], tf.X[1]
	es := epollOf(ep)
	o := fdObject(fd)
	if es == nil {
		if ep < 0 {
			return errno(EBADF)
		}
		return errno(EINVAL)
	}
	if o < 0 {
		return errno(EBADF)
	}
	if o == ep {
		return errno(EINVAL)
	}
	switch objs[o].kind {
	case objNull, objFile, objConsole:
		return errno(EPERM) // like regular files and (here) the console
	}
	var ev epollEvent
	if op != epollCtlDel && !copyIn(bytesOf(unsafe.Pointer(&ev), unsafe.Sizeof(ev)), tf.X[3]) {
		return errno(EFAULT)
	}
	slot := -1
	for i := 0; i < int(es.hi); i++ {
		if es.ins[i].used && es.ins[i].fd == int32(fd) && es.ins[i].obj == o {
			slot = i
			break
		}
	}
	switch op {
	case epollCtlAdd:
		if slot >= 0 {
			return errno(EEXIST)
		}
		for i := 0; i < maxInterests; i++ {
			if !es.ins[i].used {
				slot = i
				break
			}
		}
		if slot < 0 || !watch(o, ep, int16(slot)) {
			stats.FileFailed++
			return errno(ENOSPC)
		}
		es.ins[slot] = interest{used: true, pending: true, fd: int32(fd), obj: o, events: ev.Events, data: ev.Data}
		es.n++
		es.hi = max(es.hi, int32(slot+1))
	case epollCtlMod:
		if slot < 0 {
			return errno(ENOENT)
		}
		es.ins[slot].events, es.ins[slot].data, es.ins[slot].pending = ev.Events, ev.Data, true
	case epollCtlDel:
		if slot < 0 {
			return errno(ENOENT)
		}
		unwatch(o, ep, int16(slot))
		es.dropInterest(slot)
		return 0
	default:
		return errno(EINVAL)
	}
	// A registration that is ready now wakes waiters.
	if objs[ep].q >= 0 {
		wakeQueueRetry(objs[ep].q)
	}
	return 0
}

// watch records that interest idx of epoll ep watches object o.
//
//go:nosplit
func watch(o, ep int32, idx int16) bool {
	for w := range objs[o].watch {
		if objs[o].watch[w].ep < 0 {
			objs[o].watch[w] = watcher{ep: ep, idx: idx}
			return true
		}
	}
	return false
}

// unwatch removes that record.
//
//go:nosplit
func unwatch(o, ep int32, idx int16) {
	for w := range objs[o].watch {
		if objs[o].watch[w].ep == ep && objs[o].watch[w].idx == idx {
			objs[o].watch[w].ep = -1
		}
	}
}

// unwatchAll drops the interests watching object o (it is being closed):
// Linux removes an epoll registration when the file goes away.
//
//go:nosplit
func unwatchAll(o int32) {
	for w := range objs[o].watch {
		wt := objs[o].watch[w]
		if wt.ep < 0 {
			continue
		}
		if es := epollOf(wt.ep); es != nil && es.ins[wt.idx].used && es.ins[wt.idx].obj == o {
			es.dropInterest(int(wt.idx))
		}
		objs[o].watch[w].ep = -1
	}
}

// epollRelease unregisters every interest of epoll object ep.
//
//go:nosplit
func epollRelease(ep int32) {
	es := epollOf(ep)
	if es == nil {
		return
	}
	for i := 0; i < int(es.hi); i++ {
		if es.ins[i].used {
			unwatch(es.ins[i].obj, ep, int16(i))
			es.ins[i] = interest{}
		}
	}
	es.n, es.hi = 0, 0
}

// epollForgetFd is called when descriptor fd of process p (naming object
// o) closes: registrations made through that descriptor stay while other
// descriptors keep o open, as on Linux, so nothing is done here unless o
// is going away (putObject handles that).
//
//go:nosplit
func epollForgetFd(p, fd int, o int32) {}

// epoll_pwait(epfd, events, maxevents, timeout_ms, sigmask, sigsetsize)
func sysEpollPwaitFn(tf *Frame) uint64 {
	ep := fdObject(tf.X[0])
	es := epollOf(ep)
	max, timeout := int32(tf.X[2]), int32(tf.X[3])
	if ep < 0 {
		return errno(EBADF)
	}
	if es == nil || max <= 0 || max > 1<<20 {
		return errno(EINVAL)
	}
	if tf.X[4] != 0 { // a signal mask for the wait (Go passes none)
		if tf.X[5] != 8 {
			return errno(EINVAL)
		}
		if _, ok := readU64(tf.X[4]); !ok {
			return errno(EFAULT)
		}
	}
	if !accessOK(tf.X[1], uint64(max)*16) {
		return errno(EFAULT)
	}
	dl := retryDeadline()
	if dl == 0 && timeout > 0 {
		dl = deadlineAfter(uint64(timeout) * 1_000_000)
	}
	n, e := epollCollect(es, tf.X[1], max)
	if e != 0 {
		return errno(e)
	}
	if n > 0 || timeout == 0 {
		return uint64(n)
	}
	if dl != 0 && now() >= dl {
		return 0
	}
	return blockOn(tf, objQueue(ep), waitEpoll, dl, 0)
}

// epollCollect copies up to max ready events to the array at va and
// returns how many.
//
//go:nosplit
func epollCollect(es *epollState, va uint64, max int32) (int32, int) {
	var n int32
	for i := 0; i < int(es.hi) && n < max; i++ {
		in := &es.ins[i]
		if !in.used {
			continue
		}
		if in.events&epollET != 0 && !in.pending || in.events&^epollPrivate == 0 {
			continue // no change since the last report, or a disarmed oneshot
		}
		ready := poll(in.obj) & (in.events | epollErr | epollHup)
		if ready == 0 {
			in.pending = false
			continue
		}
		ev := epollEvent{Events: ready, Data: in.data}
		if !copyOut(va+uint64(n)*16, bytesOf(unsafe.Pointer(&ev), 16)) {
			if n == 0 {
				return 0, EFAULT
			}
			break
		}
		if in.events&epollOneshot != 0 {
			in.events &= epollPrivate
		}
		in.pending = false
		n++
	}
	return n, 0
}
