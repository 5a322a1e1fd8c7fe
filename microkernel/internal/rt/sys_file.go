package rt

import "unsafe"

// File descriptors of the kernel's runtime: 0-2 are the console; the
// netpoller's epoll instance and eventfd get the next free slots. There is
// no file system: openat fails with ENOENT, which the runtime tolerates.

// maxFiles bounds the descriptor table (the runtime needs two beyond the
// console); a full table fails with EMFILE, counted in Stats.FileFailed.
const maxFiles = 16

// maxConsoleWrite bounds one console write; a longer one is a short write
// (the caller writes the rest again, as with any Linux file). It keeps
// userMem from faulting in an arbitrarily large buffer in trap context.
const maxConsoleWrite = 64 << 10

// maxInterest bounds one epoll instance's interest list.
const maxInterest = 8

// File kinds.
const (
	fileNone = iota
	fileConsole
	fileEpoll
	fileEventfd
)

// epoll constants (include/uapi/linux/eventpoll.h).
const (
	epollCtlAdd = 1
	epollCtlDel = 2
	epollCtlMod = 3
	epollIn     = 0x1
)

// fcntl commands.
const (
	fGetfd = 1
	fSetfd = 2
	fGetfl = 3
	fSetfl = 4
	oRDWR  = 2
)

// epollEvent is struct epoll_event on linux/arm64 (not packed: 16 bytes).
type epollEvent struct {
	Events uint32
	_      uint32
	Data   uint64
}

type interest struct {
	fd     int32
	events uint32
	data   uint64
}

type file struct {
	kind     uint8
	count    uint64                // eventfd counter
	interest [maxInterest]interest // epoll interest list (fd -1: unused)
	nint     int
}

var files [maxFiles]file

// initFiles opens the console as descriptors 0, 1 and 2.
//
//go:nosplit
func initFiles() {
	for i := 0; i < 3; i++ {
		files[i].kind = fileConsole
	}
}

// allocFile returns a fresh descriptor of the given kind or -EMFILE.
//
//go:nosplit
func allocFile(kind uint8) uint64 {
	for fd := range files {
		if files[fd].kind == fileNone {
			files[fd] = file{kind: kind}
			return uint64(fd)
		}
	}
	stats.FileFailed++
	return errno(EMFILE)
}

// fileAt returns the open file fd or nil.
//
//go:nosplit
func fileAt(fd uint64) *file {
	if fd >= maxFiles || files[fd].kind == fileNone {
		return nil
	}
	return &files[fd]
}

// write(fd, buf, count)
//
//go:nosplit
func sysWriteFn(tf *Frame) uint64 {
	f, n := fileAt(tf.X[0]), uintptr(tf.X[2])
	if f == nil {
		return errno(EBADF)
	}
	switch {
	case f.kind == fileConsole && n > maxConsoleWrite:
		n = maxConsoleWrite
	case f.kind == fileEventfd && n > 8:
		n = 8 // an eventfd write takes exactly 8 bytes
	case f.kind == fileEpoll:
		return errno(EINVAL)
	}
	p := userMem(uintptr(tf.X[1]), n)
	if p == nil && n != 0 {
		return errno(EFAULT)
	}
	switch f.kind {
	case fileConsole:
		putBytes(unsafe.Slice((*byte)(p), n))
		return uint64(n)
	case fileEventfd:
		if n < 8 {
			return errno(EINVAL)
		}
		f.count += *(*uint64)(p)
		eventfdSignalled(int32(tf.X[0]))
		return 8
	}
	return errno(EINVAL)
}

// read(fd, buf, count): an eventfd hands over and clears its count; the
// console has no input yet (EOF).
//
//go:nosplit
func sysReadFn(tf *Frame) uint64 {
	f, n := fileAt(tf.X[0]), uintptr(tf.X[2])
	if f == nil {
		return errno(EBADF)
	}
	switch f.kind {
	case fileConsole:
		return 0
	case fileEventfd:
		if n < 8 {
			return errno(EINVAL)
		}
		if f.count == 0 {
			return errno(EAGAIN)
		}
		p := userMem(uintptr(tf.X[1]), 8)
		if p == nil {
			return errno(EFAULT)
		}
		*(*uint64)(p) = f.count
		f.count = 0
		return 8
	}
	return errno(EINVAL)
}

// close(fd)
//
//go:nosplit
func sysCloseFn(tf *Frame) uint64 {
	f := fileAt(tf.X[0])
	if f == nil || f.kind == fileConsole {
		return errno(EBADF)
	}
	*f = file{}
	return 0
}

// fcntl(fd, cmd, arg): enough for the runtime's check that 0-2 are open.
//
//go:nosplit
func sysFcntlFn(tf *Frame) uint64 {
	if fileAt(tf.X[0]) == nil {
		return errno(EBADF)
	}
	switch tf.X[1] {
	case fGetfd, fSetfd, fSetfl:
		return 0
	case fGetfl:
		return oRDWR
	}
	return errno(EINVAL)
}

// openat(...): there is no file system.
//
//go:nosplit
func sysOpenatFn(tf *Frame) uint64 { return errno(ENOENT) }

// eventfd2(initval, flags)
//
//go:nosplit
func sysEventfd2Fn(tf *Frame) uint64 {
	fd := allocFile(fileEventfd)
	if int64(fd) >= 0 {
		files[fd].count = uint64(uint32(tf.X[0]))
	}
	return fd
}

// epoll_create1(flags)
//
//go:nosplit
func sysEpollCreate1Fn(tf *Frame) uint64 { return allocFile(fileEpoll) }

// epoll_ctl(epfd, op, fd, event)
//
//go:nosplit
func sysEpollCtlFn(tf *Frame) uint64 {
	ep, fd := fileAt(tf.X[0]), int32(tf.X[2])
	if ep == nil || ep.kind != fileEpoll || fileAt(uint64(fd)) == nil {
		return errno(EBADF)
	}
	var ev epollEvent
	if op := tf.X[1]; op != epollCtlDel {
		p := userMem(uintptr(tf.X[3]), unsafe.Sizeof(ev))
		if p == nil {
			return errno(EFAULT)
		}
		ev = *(*epollEvent)(p)
	}
	slot := -1
	for i := 0; i < ep.nint; i++ {
		if ep.interest[i].fd == fd {
			slot = i
		}
	}
	switch tf.X[1] {
	case epollCtlAdd:
		if slot >= 0 {
			return errno(EEXIST)
		}
		if ep.nint == maxInterest {
			stats.FileFailed++
			return errno(ENOMEM)
		}
		ep.interest[ep.nint] = interest{fd: fd, events: ev.Events, data: ev.Data}
		ep.nint++
	case epollCtlMod:
		if slot < 0 {
			return errno(ENOENT)
		}
		ep.interest[slot].events, ep.interest[slot].data = ev.Events, ev.Data
	case epollCtlDel:
		if slot < 0 {
			return errno(ENOENT)
		}
		ep.nint--
		ep.interest[slot] = ep.interest[ep.nint]
	default:
		return errno(EINVAL)
	}
	return 0
}

// epollReady writes up to max ready events of ep to the array at events and
// returns how many. Only eventfds become ready (readable when non-zero).
//
//go:nosplit
func epollReady(ep *file, events uintptr, max int32) int32 {
	var n int32
	for i := 0; i < ep.nint && n < max; i++ {
		in := &ep.interest[i]
		f := fileAt(uint64(in.fd))
		if f == nil || f.kind != fileEventfd || f.count == 0 || in.events&epollIn == 0 {
			continue
		}
		p := userMem(events+uintptr(n)*unsafe.Sizeof(epollEvent{}), unsafe.Sizeof(epollEvent{}))
		if p == nil {
			break
		}
		*(*epollEvent)(p) = epollEvent{Events: epollIn, Data: in.data}
		n++
	}
	return n
}

// epoll_pwait(epfd, events, maxevents, timeout_ms, sigmask): returns ready
// events at once, else blocks until an eventfd is written or the timeout.
//
//go:nosplit
func sysEpollPwaitFn(tf *Frame) uint64 {
	ep, max, timeout := fileAt(tf.X[0]), int32(tf.X[2]), int32(tf.X[3])
	if ep == nil || ep.kind != fileEpoll {
		return errno(EBADF)
	}
	if max <= 0 {
		return errno(EINVAL)
	}
	if n := epollReady(ep, uintptr(tf.X[1]), max); n > 0 || timeout == 0 {
		return uint64(n)
	}
	var deadline uint64
	if timeout > 0 {
		deadline = deadlineAfter(uint64(timeout) * 1_000_000)
	}
	block(waitEpoll, deadline)
	t := &threads[cur]
	t.epfd, t.epEvents, t.epMax = int32(tf.X[0]), uintptr(tf.X[1]), max
	return 0
}

// eventfdSignalled wakes the epoll waiters that now have events.
//
//go:nosplit
func eventfdSignalled(fd int32) {
	for i := 0; i < highWater; i++ {
		t := &threads[i]
		if t.state != tsBlocked || t.wait != waitEpoll {
			continue
		}
		ep := fileAt(uint64(t.epfd))
		if ep == nil {
			wake(i, errno(EBADF))
			continue
		}
		if n := epollReady(ep, t.epEvents, t.epMax); n > 0 {
			wake(i, uint64(n))
		}
	}
}
