package libipc

import (
	"runtime"
	"syscall"
	"unsafe"

	"armos/abi"
)

// The armos IPC system calls (abi, docs/kernel-ipc.md) as Go functions.
// They work in armos processes; elsewhere (a Linux host) every one fails
// with ENOSYS. Errors are syscall.Errno values.

// KChanCreate makes a kernel channel and returns its two descriptors.
// flags: syscall.O_CLOEXEC, syscall.O_NONBLOCK.
func KChanCreate(flags int) (int, int, error) { return KChanCreateQueue(flags, 0) }

// KChanCreateQueue is KChanCreate with each direction's queue bounded at
// qlen messages (0: abi.QueueLen, the most).
func KChanCreateQueue(flags, qlen int) (int, int, error) {
	var fds [2]int32
	_, _, e := syscall.RawSyscall(abi.SysChanCreate, uintptr(flags), uintptr(unsafe.Pointer(&fds)), uintptr(qlen))
	if e != 0 {
		return -1, -1, e
	}
	return int(fds[0]), int(fds[1]), nil
}

// KSend sends data and fds (each moved, or copied when or'ed with
// abi.FdCopy) on channel descriptor fd. It blocks while the peer's queue
// is full only if fd is blocking.
func KSend(fd int, data []byte, fds []int32) error { return kSend(fd, data, fds, false) }

// KTrySend is KSend that never waits (abi.SendDontWait): a full queue is
// EAGAIN whatever fd's O_NONBLOCK. The call cannot block, so it is made
// as the runtime makes its own non-blocking calls (RawSyscall, without
// entersyscall): an idle Go process's sysmon sleeps until a goroutine
// enters a system call, and waking it at each send cost every process a
// futex call, two sysmon runs and a timer interrupt per burst of messages.
func KTrySend(fd int, data []byte, fds []int32) error { return kSend(fd, data, fds, true) }

// kSend is KSend, or KTrySend with dontWait.
func kSend(fd int, data []byte, fds []int32, dontWait bool) error {
	m := abi.Msg{Len: uint32(len(data)), NFds: uint32(len(fds))}
	if len(data) > 0 {
		m.Data = uint64(uintptr(unsafe.Pointer(&data[0])))
	}
	if len(fds) > 0 {
		m.Fds = uint64(uintptr(unsafe.Pointer(&fds[0])))
	}
	var e syscall.Errno
	if dontWait {
		_, _, e = syscall.RawSyscall(abi.SysChanSend, uintptr(fd), uintptr(unsafe.Pointer(&m)), abi.SendDontWait)
	} else {
		_, _, e = syscall.Syscall(abi.SysChanSend, uintptr(fd), uintptr(unsafe.Pointer(&m)), 0)
	}
	runtime.KeepAlive(data)
	runtime.KeepAlive(fds)
	if e != 0 {
		return e
	}
	return nil
}

// KTrySendGather is KTrySend of a message whose bytes are pieces, joined
// in order (abi.SendGather; at most abi.MaxGather of them).
func KTrySendGather(fd int, pieces [][]byte, fds []int32) error {
	if len(pieces) > abi.MaxGather {
		return syscall.EINVAL
	}
	var vec [abi.MaxGather]abi.IOVec
	total := 0
	for i, p := range pieces {
		vec[i].Len = uint64(len(p))
		if len(p) > 0 {
			vec[i].Base = uint64(uintptr(unsafe.Pointer(&p[0])))
		}
		total += len(p)
	}
	m := abi.Msg{Data: uint64(uintptr(unsafe.Pointer(&vec[0]))), Cap: uint32(len(pieces)), Len: uint32(total), NFds: uint32(len(fds))}
	if len(fds) > 0 {
		m.Fds = uint64(uintptr(unsafe.Pointer(&fds[0])))
	}
	_, _, e := syscall.RawSyscall(abi.SysChanSend, uintptr(fd), uintptr(unsafe.Pointer(&m)), abi.SendDontWait|abi.SendGather)
	runtime.KeepAlive(pieces)
	runtime.KeepAlive(&vec)
	runtime.KeepAlive(fds)
	if e != 0 {
		return e
	}
	return nil
}

// KRecv receives the next message on channel descriptor fd into buf and
// fds, waiting until deadline (abi.NoDeadline, abi.DontWait, or
// CLOCK_MONOTONIC ns). It returns the bytes and descriptors received and
// the reply descriptor of a call (-1 for a plain message). With EMSGSIZE
// n and nfds are what the message needs; it stays queued.
func KRecv(fd int, buf []byte, fds []int32, deadline uint64) (n, nfds, reply int, err error) {
	n, nfds, reply, _, err = KRecvMore(fd, buf, fds, deadline)
	return n, nfds, reply, err
}

// KRecvMore is KRecv that also reports abi.RecvMore: true if another
// receive would not wait (more messages queued, or the peer gone); false
// after a successful receive means the next message or close comes later.
func KRecvMore(fd int, buf []byte, fds []int32, deadline uint64) (n, nfds, reply int, more bool, err error) {
	n, nfds, reply, more, _, err = kRecvFlags(fd, buf, fds, deadline, 0)
	return
}

// KRecvPost is KRecvMore with abi.RecvPost: when nothing is queued and
// deadline is abi.DontWait, buf is posted after the buffers posted
// already (the call still fails with EAGAIN), and a message sent later
// may be copied straight into it by its sender. A message received may
// lie in any buffer posted before: at is its address (buf's when it was
// copied into buf). With post false it is KRecvMore that reports at: a
// receive without abi.RecvPost ends the postings, though messages already
// in posted buffers still come. A posted buffer must be left alone (and
// kept alive) until a receive returns it or fd is closed.
func KRecvPost(fd int, buf []byte, fds []int32, deadline uint64, post bool) (n, nfds, reply int, more bool, at uintptr, err error) {
	flags := uint32(0)
	if post {
		flags = abi.RecvPost
	}
	return kRecvFlags(fd, buf, fds, deadline, flags)
}

func kRecvFlags(fd int, buf []byte, fds []int32, deadline uint64, flags uint32) (n, nfds, reply int, more bool, at uintptr, err error) {
	m := abi.Msg{Cap: uint32(len(buf)), FdCap: uint32(len(fds)), Flags: flags}
	if len(buf) > 0 {
		m.Data = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	if len(fds) > 0 {
		m.Fds = uint64(uintptr(unsafe.Pointer(&fds[0])))
	}
	var e syscall.Errno
	if deadline == abi.DontWait {
		_, _, e = syscall.RawSyscall(abi.SysChanRecv, uintptr(fd), uintptr(unsafe.Pointer(&m)), uintptr(deadline))
	} else {
		_, _, e = syscall.Syscall(abi.SysChanRecv, uintptr(fd), uintptr(unsafe.Pointer(&m)), uintptr(deadline))
	}
	runtime.KeepAlive(buf)
	runtime.KeepAlive(fds)
	if e != 0 {
		return int(m.Len), int(m.NFds), -1, false, 0, e
	}
	return int(m.Len), int(m.NFds), int(m.Reply), m.Flags&abi.RecvMore != 0, uintptr(m.Data), nil
}

// KCall sends req (with reqFds) on channel descriptor fd with a reply
// capability and waits until deadline for the answer, which lands in rep
// and repFds; it returns their sizes.
func KCall(fd int, req []byte, reqFds []int32, rep []byte, repFds []int32, deadline uint64) (n, nfds int, err error) {
	var c abi.Call
	c.Req.Len, c.Req.NFds = uint32(len(req)), uint32(len(reqFds))
	if len(req) > 0 {
		c.Req.Data = uint64(uintptr(unsafe.Pointer(&req[0])))
	}
	if len(reqFds) > 0 {
		c.Req.Fds = uint64(uintptr(unsafe.Pointer(&reqFds[0])))
	}
	c.Rep.Cap, c.Rep.FdCap = uint32(len(rep)), uint32(len(repFds))
	if len(rep) > 0 {
		c.Rep.Data = uint64(uintptr(unsafe.Pointer(&rep[0])))
	}
	if len(repFds) > 0 {
		c.Rep.Fds = uint64(uintptr(unsafe.Pointer(&repFds[0])))
	}
	_, _, e := syscall.Syscall(abi.SysChanCall, uintptr(fd), uintptr(unsafe.Pointer(&c)), uintptr(deadline))
	runtime.KeepAlive(req)
	runtime.KeepAlive(reqFds)
	runtime.KeepAlive(rep)
	runtime.KeepAlive(repFds)
	if e != 0 {
		return 0, 0, e
	}
	return int(c.Rep.Len), int(c.Rep.NFds), nil
}

// KReply answers the call whose reply descriptor is rfd with data and fds;
// rfd is closed unless the error is EMSGSIZE or EMFILE (the caller's
// buffers or table cannot take it: answer again with less).
func KReply(rfd int, data []byte, fds []int32) error {
	m := abi.Msg{Len: uint32(len(data)), NFds: uint32(len(fds))}
	if len(data) > 0 {
		m.Data = uint64(uintptr(unsafe.Pointer(&data[0])))
	}
	if len(fds) > 0 {
		m.Fds = uint64(uintptr(unsafe.Pointer(&fds[0])))
	}
	_, _, e := syscall.RawSyscall(abi.SysReply, uintptr(rfd), uintptr(unsafe.Pointer(&m)), 0)
	runtime.KeepAlive(data)
	runtime.KeepAlive(fds)
	if e != 0 {
		return e
	}
	return nil
}

// KHandleDup returns a new descriptor for fd's object with at most rights.
func KHandleDup(fd int, rights uint32, flags int) (int, error) {
	r, _, e := syscall.RawSyscall(abi.SysHandleDup, uintptr(fd), uintptr(rights), uintptr(flags))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// KHandleInfo describes descriptor fd.
func KHandleInfo(fd int) (abi.HandleInfo, error) {
	var info abi.HandleInfo
	_, _, e := syscall.RawSyscall(abi.SysHandleInfo, uintptr(fd), uintptr(unsafe.Pointer(&info)), 0)
	if e != 0 {
		return info, e
	}
	return info, nil
}

// KReplyRecv answers the call of rfd with data (when rfd >= 0), then
// receives on fd like KRecv: a server's loop in one system call.
// replyErr is the reply's own failure (nil: answered): EPIPE (the caller
// stopped waiting) does not stop the receive; any other reply failure
// leaves rfd open and is also err, with nothing received.
func KReplyRecv(rfd int, data []byte, fd int, buf []byte, fds []int32, deadline uint64) (n, nfds, reply int, replyErr, err error) {
	rm := abi.Msg{Len: uint32(len(data))}
	if len(data) > 0 {
		rm.Data = uint64(uintptr(unsafe.Pointer(&data[0])))
	}
	m := abi.Msg{Cap: uint32(len(buf)), FdCap: uint32(len(fds))}
	if len(buf) > 0 {
		m.Data = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	if len(fds) > 0 {
		m.Fds = uint64(uintptr(unsafe.Pointer(&fds[0])))
	}
	_, _, e := syscall.Syscall6(abi.SysReplyRecv, uintptr(rfd), uintptr(unsafe.Pointer(&rm)), uintptr(fd),
		uintptr(unsafe.Pointer(&m)), uintptr(deadline), 0)
	runtime.KeepAlive(data)
	runtime.KeepAlive(buf)
	runtime.KeepAlive(fds)
	if rm.Flags != 0 {
		replyErr = syscall.Errno(rm.Flags)
	}
	if e != 0 {
		return int(m.Len), int(m.NFds), -1, replyErr, e
	}
	return int(m.Len), int(m.NFds), int(m.Reply), replyErr, nil
}

// KPeek reports whether a message waits on channel descriptor fd: nil if
// one does (it stays queued), ECONNRESET if the peer is gone and nothing
// is left, EAGAIN if nothing is queued (with abi.DontWait).
func KPeek(fd int, deadline uint64) error {
	m := abi.Msg{Flags: abi.RecvPeek}
	_, _, e := syscall.RawSyscall(abi.SysChanRecv, uintptr(fd), uintptr(unsafe.Pointer(&m)), uintptr(deadline))
	if e != 0 {
		return e
	}
	return nil
}

// KShmCreate makes a shared-memory object of size bytes (whole pages,
// zeroed) and returns its descriptor; syscall.Mmap(fd, off, n,
// PROT_READ|PROT_WRITE, MAP_SHARED) maps it.
func KShmCreate(size int, flags int) (int, error) {
	r, _, e := syscall.RawSyscall(abi.SysShmCreate, uintptr(size), uintptr(flags), 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// KShmInfo returns the page count of shared-memory object fd and fills
// pas with the physical addresses of its first pages (for DMA).
func KShmInfo(fd int, pas []uint64) (int, error) {
	var p uintptr
	if len(pas) > 0 {
		p = uintptr(unsafe.Pointer(&pas[0]))
	}
	r, _, e := syscall.RawSyscall(abi.SysShmInfo, uintptr(fd), p, uintptr(len(pas)))
	runtime.KeepAlive(pas)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
