package rt

import "unsafe"

// Identity, limits, system information and fstat.

// uname(buf): struct utsname, six 65-byte fields. armos names itself
// honestly; the release is deliberately older than any Linux feature a
// program might probe for by version, so such probes take their fallback.
func sysUnameFn(tf *Frame) uint64 {
	var u [6 * 65]byte
	fields := [6]string{"Linux", "armos", "2.6.32-armos", "#1 armos 0.1.0", "aarch64", "(none)"}
	for i, f := range fields {
		copy(u[i*65:i*65+64], f)
	}
	if !copyOut(tf.X[0], u[:]) {
		return errno(EFAULT)
	}
	return 0
}

// rlimit resources (include/uapi/asm-generic/resource.h).
const (
	rlimitStack  = 3
	rlimitNproc  = 6
	rlimitNofile = 7
	rlimitAS     = 9
	rlimNlimits  = 16
	rlimInfinity = ^uint64(0)
)

// prlimit64(pid, resource, new, old): the limits armos enforces are
// reported (open files, threads, memory); the rest are infinite. Setting
// a limit within the enforced bound is accepted (and not enforced lower).
func sysPrlimitFn(tf *Frame) uint64 {
	pid, res := int32(tf.X[0]), tf.X[1]
	p := curProc()
	if pid != 0 {
		if p = findPid(pid); p < 0 {
			return errno(ESRCH)
		}
	}
	if res >= rlimNlimits {
		return errno(EINVAL)
	}
	cur, max := rlimInfinity, rlimInfinity
	switch res {
	case rlimitNofile:
		cur, max = maxFds, maxFds
	case rlimitNproc:
		cur, max = uint64(pr(p).threadLimit), uint64(pr(p).threadLimit)
	case rlimitAS:
		if l := space(p).Limit; l != 0 {
			cur, max = l*pageSize, l*pageSize
		}
	case rlimitStack:
		cur = 8 << 20
	}
	if tf.X[2] != 0 {
		var n [2]uint64
		if !copyIn(bytesOf(unsafe.Pointer(&n), 16), tf.X[2]) {
			return errno(EFAULT)
		}
		if n[0] > n[1] {
			return errno(EINVAL)
		}
		if n[1] > max && max != rlimInfinity {
			return errno(EPERM)
		}
	}
	if tf.X[3] != 0 {
		o := [2]uint64{cur, max}
		if !copyOut(tf.X[3], bytesOf(unsafe.Pointer(&o), 16)) {
			return errno(EFAULT)
		}
	}
	return 0
}

// getuid and friends: everything runs as root.
//
//go:nosplit
func sysZeroFn(tf *Frame) uint64 { return 0 }

// prctl(option, ...): PR_SET_NAME and PR_GET_NAME on the process name;
// everything else is refused with EINVAL (Go tolerates it).
func sysPrctlFn(tf *Frame) uint64 {
	const prGetKeepcaps, prSetKeepcaps, prSetName, prGetName = 7, 8, 15, 16
	pp := pr(curProc())
	switch tf.X[0] {
	case prGetKeepcaps: // there are no capabilities to keep: the flag is all there is
		if pp.keepCaps {
			return 1
		}
		return 0
	case prSetKeepcaps:
		if tf.X[1] > 1 {
			return errno(EINVAL)
		}
		pp.keepCaps = tf.X[1] == 1
		return 0
	case prSetName:
		var b [16]byte
		n := copyInString(b[:], tf.X[1])
		if n == -EFAULT {
			return errno(EFAULT)
		}
		if n < 0 {
			n = 15
		}
		pp.name = [16]byte{}
		copy(pp.name[:15], b[:n])
		return 0
	case prGetName:
		if !copyOut(tf.X[1], pp.name[:]) {
			return errno(EFAULT)
		}
		return 0
	}
	return errno(EINVAL)
}

// ioctl(fd, req, arg): FIONREAD (bytes ready to read); no terminal or
// device controls yet.
func sysIoctlFn(tf *Frame) uint64 {
	const fionread = 0x541b
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	if tf.X[1] != fionread {
		return errno(ENOTTY)
	}
	var n uint32
	switch ob := &objs[o]; ob.kind {
	case objPipeRead:
		n = uint32(pipes[ob.pipe].wr - pipes[ob.pipe].rd)
	case objFile:
		if ob.pos < ob.fileSize {
			n = uint32(min(ob.fileSize-ob.pos, 1<<31-1))
		}
	case objNull, objConsole:
	default:
		return errno(ENOTTY)
	}
	if !writeU32(tf.X[2], n) {
		return errno(EFAULT)
	}
	return 0
}

// rt_sigpending(set, sigsetsize)
func sysRtSigpendingFn(tf *Frame) uint64 {
	if tf.X[1] != 8 {
		return errno(EINVAL)
	}
	t := th(cur)
	if !writeU64(tf.X[0], (t.sigs.pending|pr(curProc()).sigPending)&t.sigs.mask) {
		return errno(EFAULT)
	}
	return 0
}

// getrusage(who, usage): struct rusage; armos keeps no per-process CPU or
// page-fault accounting in it yet, so it reports zeros.
func sysGetrusageFn(tf *Frame) uint64 {
	if who := int64(tf.X[0]); who != 0 && who != -1 && who != 1 { // SELF, CHILDREN, THREAD
		return errno(EINVAL)
	}
	var ru [18]uint64
	if !copyOut(tf.X[1], bytesOf(unsafe.Pointer(&ru), unsafe.Sizeof(ru))) {
		return errno(EFAULT)
	}
	return 0
}

// times(buf): clock ticks (100 Hz) since boot; the struct tms CPU times
// are zero (no accounting yet).
func sysTimesFn(tf *Frame) uint64 {
	if tf.X[0] != 0 {
		var tms [4]uint64
		if !copyOut(tf.X[0], bytesOf(unsafe.Pointer(&tms), unsafe.Sizeof(tms))) {
			return errno(EFAULT)
		}
	}
	return ticksToNS(now()) / 10_000_000
}

// getresuid(ruid, euid, suid) and getresgid: everything runs as root.
func sysGetresFn(tf *Frame) uint64 {
	for k := 0; k < 3; k++ {
		if !writeU32(tf.X[k], 0) {
			return errno(EFAULT)
		}
	}
	return 0
}

// getcwd(buf, size): the only directory is the root.
//
//go:nosplit
func sysGetcwdFn(tf *Frame) uint64 {
	if tf.X[1] < 2 {
		return errno(ERANGE)
	}
	if !copyOut(tf.X[0], []byte{'/', 0}) {
		return errno(EFAULT)
	}
	return 2
}

// umask(mask): the file system is read-only; the old mask is reported.
//
//go:nosplit
func sysUmaskFn(tf *Frame) uint64 { return 0o022 }

// statBuf is struct stat on linux/arm64 (asm-generic layout, 128 bytes).
type statBuf struct {
	Dev       uint64
	Ino       uint64
	Mode      uint32
	Nlink     uint32
	UID, GID  uint32
	Rdev      uint64
	_         uint64
	Size      int64
	Blksize   int32
	_         int32
	Blocks    int64
	Atime     int64
	AtimeNsec uint64
	Mtime     int64
	MtimeNsec uint64
	Ctime     int64
	CtimeNsec uint64
	_         [2]uint32
}

// File type bits.
const (
	sIFIFO  = 0o010000
	sIFSOCK = 0o140000
	sIFCHR  = 0o020000
	sIFDIR  = 0o040000
	sIFREG  = 0o100000
)

// fstatObject fills st for object o.
//
//go:nosplit
func fstatObject(o int32, st *statBuf) {
	ob := &objs[o]
	st.Nlink = 1
	st.Blksize = pageSize
	st.Dev = 0x10
	st.Ino = uint64(o) + 1
	switch ob.kind {
	case objConsole:
		st.Mode = sIFCHR | 0o620
		st.Rdev = 5<<8 | 1
	case objNull:
		st.Mode = sIFCHR | 0o666
		st.Rdev = 1<<8 | 3
	case objPipeRead, objPipeWrite:
		st.Mode = sIFIFO | 0o600
	case objEventfd, objEpoll, objReply:
		st.Mode = 0o600
	case objChannel:
		st.Mode = sIFSOCK | 0o600
	case objFile:
		st.Mode = ob.fileMode
		st.Size = int64(ob.fileSize)
		st.Blocks = int64((ob.fileSize + 511) / 512)
		st.Ino = ob.fileIno
		st.Dev = 0x11
	}
}

// fstat(fd, statbuf)
func sysFstatFn(tf *Frame) uint64 {
	o := fdObject(tf.X[0])
	if o < 0 {
		return errno(EBADF)
	}
	var st statBuf
	fstatObject(o, &st)
	if !copyOut(tf.X[1], bytesOf(unsafe.Pointer(&st), unsafe.Sizeof(st))) {
		return errno(EFAULT)
	}
	return 0
}

// sysinfo(info): uptime, memory, processes.
func sysSysinfoFn(tf *Frame) uint64 {
	var si [112]byte
	ps := physPages.Stats()
	*(*int64)(unsafe.Pointer(&si[0])) = int64(ticksToNS(now()) / 1_000_000_000)
	*(*uint64)(unsafe.Pointer(&si[32])) = ps.Total
	*(*uint64)(unsafe.Pointer(&si[40])) = ps.Free
	n := uint16(0)
	for p := 0; p < maxProcs; p++ {
		if procPage[p] != 0 {
			n++
		}
	}
	*(*uint16)(unsafe.Pointer(&si[80])) = n
	*(*uint32)(unsafe.Pointer(&si[104])) = pageSize // mem_unit
	if !copyOut(tf.X[0], si[:]) {
		return errno(EFAULT)
	}
	return 0
}

// ptrOfStat views a statBuf as bytes.
func ptrOfStat(st *statBuf) unsafe.Pointer { return unsafe.Pointer(st) }
