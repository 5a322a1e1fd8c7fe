package rt

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// Descriptors: numbering, dup, fcntl, close, fstat, lseek, ioctl, and the
// objects behind them (console, /dev/null, boot image files).

// pipeFds makes a pipe with flags and returns its read and write fds.
func pipeFds(t *testing.T, u *uproc, tf *Frame, flags uint64) (uint64, uint64) {
	t.Helper()
	va := u.put(pageSize-8, make([]byte, 8))
	require.Zero(t, svc(tf, sysPipe2, va, flags))
	return uint64(u.u32(va)), uint64(u.u32(va + 4))
}

// devNull gives process u a /dev/null descriptor (as openat would).
func devNull(t *testing.T, u *uproc) uint64 {
	t.Helper()
	o := allocObject(objNull, oRDWR)
	require.GreaterOrEqual(t, o, int32(0))
	fd := lowestFd(u.p, 0)
	installFd(u.p, fd, o, false)
	return uint64(fd)
}

// TestFdNumberingAndDup: the lowest free descriptor is used; dup, dup3
// and close follow Linux's rules.
func TestFdNumberingAndDup(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, 0)
	require.Equal(t, []uint64{3, 4}, []uint64{r, w})
	require.EqualValues(t, 5, svc(tf, sysDup, 1))
	require.Zero(t, svc(tf, sysClose, 3))
	require.EqualValues(t, 3, svc(tf, sysDup, 1), "the lowest free one")
	require.Equal(t, errno(EBADF), svc(tf, sysDup, 42))
	require.Equal(t, errno(EBADF), svc(tf, sysDup, neg(-1)))

	require.EqualValues(t, 10, svc(tf, sysDup3, 1, 10, oCLOEXEC))
	require.EqualValues(t, fdCloexec, svc(tf, sysFcntl, 10, fGetfd))
	require.Equal(t, errno(EINVAL), svc(tf, sysDup3, 1, 1, 0), "same fd")
	require.Equal(t, errno(EINVAL), svc(tf, sysDup3, 1, 11, oNONBLOCK), "bad flags")
	require.Equal(t, errno(EBADF), svc(tf, sysDup3, 42, 11, 0))
	require.Equal(t, errno(EBADF), svc(tf, sysDup3, 1, maxFds, 0))

	// dup3 onto an open descriptor closes it first.
	consoleRefs := objs[consoleObj].refs
	require.EqualValues(t, 5, svc(tf, sysDup3, w, 5, 0))
	require.Equal(t, consoleRefs-1, objs[consoleObj].refs)
	require.Equal(t, pr(u.p).fds[w].obj, pr(u.p).fds[5].obj)
	require.Zero(t, svc(tf, sysFcntl, 5, fGetfd))

	require.Zero(t, svc(tf, sysClose, 5))
	require.Equal(t, errno(EBADF), svc(tf, sysClose, 5), "closed twice")
	require.Equal(t, errno(EBADF), svc(tf, sysClose, maxFds))
	require.Equal(t, errno(EBADF), svc(tf, sysClose, neg(-1)))
}

// TestFcntl: F_DUPFD(_CLOEXEC) from a minimum, FD_CLOEXEC per descriptor,
// status flags per open file description (shared by dups).
func TestFcntl(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, oCLOEXEC)
	require.EqualValues(t, fdCloexec, svc(tf, sysFcntl, r, fGetfd))
	require.EqualValues(t, 20, svc(tf, sysFcntl, r, fDupfd, 20))
	require.EqualValues(t, 21, svc(tf, sysFcntl, r, fDupfdCloexec, 20))
	require.Zero(t, svc(tf, sysFcntl, 20, fGetfd), "F_DUPFD clears FD_CLOEXEC")
	require.EqualValues(t, fdCloexec, svc(tf, sysFcntl, 21, fGetfd))
	require.Equal(t, errno(EINVAL), svc(tf, sysFcntl, r, fDupfd, maxFds))

	require.Zero(t, svc(tf, sysFcntl, r, fSetfd, 0))
	require.Zero(t, svc(tf, sysFcntl, r, fGetfd))
	require.Zero(t, svc(tf, sysFcntl, r, fSetfd, fdCloexec))
	require.EqualValues(t, fdCloexec, svc(tf, sysFcntl, r, fGetfd))

	require.EqualValues(t, oRDONLY, svc(tf, sysFcntl, r, fGetfl))
	require.EqualValues(t, oWRONLY, svc(tf, sysFcntl, w, fGetfl))
	require.EqualValues(t, oRDWR, svc(tf, sysFcntl, 1, fGetfl))
	require.Zero(t, svc(tf, sysFcntl, r, fSetfl, oNONBLOCK|oWRONLY))
	require.EqualValues(t, oRDONLY|oNONBLOCK, svc(tf, sysFcntl, r, fGetfl), "the access mode does not change")
	require.EqualValues(t, oRDONLY|oNONBLOCK, svc(tf, sysFcntl, 20, fGetfl), "shared with the dup")
	require.Equal(t, errno(EAGAIN), svc(tf, sysRead, 20, u.scratch, 1), "and in effect there")
	require.Zero(t, svc(tf, sysFcntl, 20, fSetfl, 0))
	require.EqualValues(t, oRDONLY, svc(tf, sysFcntl, r, fGetfl))

	require.Equal(t, errno(EINVAL), svc(tf, sysFcntl, r, 999))
	require.Equal(t, errno(EBADF), svc(tf, sysFcntl, 77, fGetfd))
}

// TestDescriptorTableFull: EMFILE once all maxFds are used; a failed
// pipe2 leaves nothing behind.
func TestDescriptorTableFull(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	for fd := 3; fd < maxFds-1; fd++ {
		require.EqualValues(t, fd, svc(tf, sysDup, 0))
	}
	census := TakeCensus()
	require.Equal(t, errno(EMFILE), svc(tf, sysPipe2, u.scratch, 0), "one slot free, a pipe needs two")
	require.Equal(t, census, TakeCensus())
	require.EqualValues(t, maxFds-1, svc(tf, sysDup, 0))
	require.Equal(t, errno(EMFILE), svc(tf, sysDup, 0))
	require.Equal(t, errno(EMFILE), svc(tf, sysEventfd2, 0, 0))
	require.Equal(t, errno(EMFILE), svc(tf, sysEpollCreate1, 0))
	require.Equal(t, errno(EMFILE), svc(tf, sysFcntl, 0, fDupfd, 0))
	require.Equal(t, census, TakeCensus(), "objects of failed calls are released")
}

// TestReadWriteAccessAndSpecialObjects: access modes, the console (no
// input: EOF), /dev/null, and user buffers that cannot be user memory.
func TestReadWriteAccessAndSpecialObjects(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, 0)
	buf := u.scratch + 512
	require.Equal(t, errno(EBADF), svc(tf, sysWrite, r, buf, 1))
	require.Equal(t, errno(EBADF), svc(tf, sysRead, w, buf, 1))
	require.Equal(t, errno(EBADF), svc(tf, sysRead, 99, buf, 1))
	require.Zero(t, svc(tf, sysRead, 0, buf, 10), "console input: end of file")
	null := devNull(t, u)
	require.EqualValues(t, 100, svc(tf, sysWrite, null, buf, 100))
	require.Zero(t, svc(tf, sysRead, null, buf, 100))
	require.Equal(t, errno(EFAULT), svc(tf, sysWrite, null, 1<<47, 8), "kernel half")
	require.Equal(t, errno(EFAULT), svc(tf, sysWrite, null, ^uint64(0)-3, 8), "wraps around")
	require.Equal(t, errno(EFAULT), svc(tf, sysRead, r, 1<<47-4, 8))
	require.Equal(t, errno(EFAULT), svc(tf, sysWrite, w, 0x2000_0000, 8), "unmapped")
	require.Equal(t, errno(ESPIPE), svc(tf, sysPread64, r, buf, 1, 0))
}

// TestFstatModes: what fstat says about each kind of object.
func TestFstatModes(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, 0)
	efd := svc(tf, sysEventfd2, 0, 0)
	ep := svc(tf, sysEpollCreate1, 0)
	null := devNull(t, u)
	st := u.scratch + 1024
	stat := func(fd uint64) statBuf {
		t.Helper()
		require.Zero(t, svc(tf, sysFstat, fd, st))
		var s statBuf
		copy(bytesOfStruct(&s), u.get(st, int(unsafe.Sizeof(s))))
		return s
	}
	require.EqualValues(t, 128, unsafe.Sizeof(statBuf{}))
	c := stat(1)
	require.Equal(t, uint32(sIFCHR|0o620), c.Mode)
	require.Equal(t, uint64(5<<8|1), c.Rdev)
	require.EqualValues(t, pageSize, c.Blksize)
	require.Equal(t, uint32(sIFCHR|0o666), stat(null).Mode)
	require.Equal(t, uint64(1<<8|3), stat(null).Rdev)
	require.Equal(t, uint32(sIFIFO|0o600), stat(r).Mode)
	require.Equal(t, uint32(sIFIFO|0o600), stat(w).Mode)
	require.NotEqual(t, stat(r).Ino, stat(w).Ino)
	require.Equal(t, uint32(0o600), stat(efd).Mode)
	require.Equal(t, uint32(0o600), stat(ep).Mode)
	require.Equal(t, errno(EBADF), svc(tf, sysFstat, 99, st))
	require.Equal(t, errno(EFAULT), svc(tf, sysFstat, 1, 0x8))
}

// TestLseekAndIoctl: pipes and the console cannot seek; FIONREAD counts
// what a pipe holds; other requests are ENOTTY.
func TestLseekAndIoctl(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, 0)
	efd := svc(tf, sysEventfd2, 0, 0)
	require.Equal(t, errno(ESPIPE), svc(tf, sysLseek, r, 0, 0))
	require.Equal(t, errno(ESPIPE), svc(tf, sysLseek, w, 0, 1))
	require.Equal(t, errno(ESPIPE), svc(tf, sysLseek, 1, 0, 0))
	require.Equal(t, errno(EBADF), svc(tf, sysLseek, 99, 0, 0))

	const fionread, tcgets = 0x541b, 0x5401
	n := u.scratch + 64
	require.Zero(t, svc(tf, sysIoctl, r, fionread, n))
	require.Zero(t, u.u32(n))
	require.EqualValues(t, 10, svc(tf, sysWrite, w, u.scratch+128, 10))
	require.Zero(t, svc(tf, sysIoctl, r, fionread, n))
	require.EqualValues(t, 10, u.u32(n))
	require.Zero(t, svc(tf, sysIoctl, 0, fionread, n))
	require.Zero(t, u.u32(n))
	require.Equal(t, errno(ENOTTY), svc(tf, sysIoctl, efd, fionread, n))
	require.Equal(t, errno(ENOTTY), svc(tf, sysIoctl, 1, tcgets, n))
	require.Equal(t, errno(EBADF), svc(tf, sysIoctl, 99, fionread, n))
	require.Equal(t, errno(EFAULT), svc(tf, sysIoctl, r, fionread, 0x8))
}

// TestConsoleObjectIsNeverFreed: every process may close its console
// descriptors and end; the console stays for everyone else.
func TestConsoleObjectIsNeverFreed(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	for fd := uint64(0); fd < 3; fd++ {
		require.Zero(t, svc(tf, sysClose, fd))
	}
	svc(tf, sysExitGroup, 0)
	reapAll(t)
	collect(t, u.pid)
	require.Equal(t, uint8(objConsole), objs[consoleObj].kind)
	// The kernel closes its own too, more than once over.
	runKernel()
	var tf0 Frame
	for fd := uint64(0); fd < 3; fd++ {
		require.Zero(t, svc(&tf0, sysClose, fd))
	}
	putObject(consoleObj)
	putObject(consoleObj)
	require.Equal(t, uint8(objConsole), objs[consoleObj].kind)
	v := newUser(t, 1)
	require.Equal(t, int32(consoleObj), pr(v.p).fds[1].obj)
	out := captureOut(t)
	var tf2 Frame
	require.EqualValues(t, 3, svc(&tf2, sysWrite, 1, v.put(0, []byte("ok\n")), 3))
	require.Contains(t, out.String(), "test: ok\n")
}

// TestImageFiles: read, pread and lseek of a boot image file (the image
// read through a fake reader), its fstat and FIONREAD.
func TestImageFiles(t *testing.T) {
	resetKernel(t, 256)
	image := make([]byte, 3*pageSize)
	for i := range image {
		image[i] = byte(i * 7)
	}
	saved := imageReader
	t.Cleanup(func() { imageReader = saved })
	imageReader = func(off, pa uint64, n uint32) bool {
		dst := physPages.Window().Ptr(pa, uint64(n))
		if dst == nil || off+uint64(n) > uint64(len(image)) {
			return false
		}
		copy(unsafe.Slice((*byte)(dst), n), image[off:])
		return true
	}
	u, tf := newUserFrame(t, 8)
	svc(tf, sysOpenat, neg(-100), u.put(0, []byte("/f\x00")), 0)
	c := NextServiceCall()
	const size = 2*pageSize + 100
	fd := OpenFile(c, FileObject{Ino: 7, DataOff: 50, Size: size, Mode: sIFREG | 0o444, Flags: oRDONLY})
	require.EqualValues(t, 3, fd)
	require.True(t, c.Complete(fd))
	switchTo(t, tf, u.main)
	require.EqualValues(t, 3, tf.X[0])

	buf := u.scratch + pageSize
	require.EqualValues(t, 10, svc(tf, sysRead, fd, buf, 10))
	require.Equal(t, image[50:60], u.get(buf, 10))
	require.EqualValues(t, 100, svc(tf, sysPread64, fd, buf, 100, 1000))
	require.Equal(t, image[1050:1150], u.get(buf, 100))
	require.EqualValues(t, 10, svc(tf, sysLseek, fd, 0, 1), "pread keeps the position")
	require.EqualValues(t, size-10, svc(tf, sysRead, fd, buf, 3*pageSize), "up to the end, across pages")
	require.Equal(t, image[60:50+size], u.get(buf, size-10))
	require.Zero(t, svc(tf, sysRead, fd, buf, 10), "end of file")
	require.EqualValues(t, size-5, svc(tf, sysLseek, fd, neg(-5), 2))
	require.EqualValues(t, 5, svc(tf, sysLseek, fd, 5, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysLseek, fd, neg(-6), 1))
	require.Equal(t, errno(EINVAL), svc(tf, sysLseek, fd, 0, 3))
	require.Equal(t, errno(EINVAL), svc(tf, sysPread64, fd, buf, 1, neg(-1)))
	n := u.scratch + 64
	require.Zero(t, svc(tf, sysIoctl, fd, 0x541b, n))
	require.EqualValues(t, size-5, u.u32(n))
	require.Zero(t, svc(tf, sysFstat, fd, buf))
	var st statBuf
	copy(bytesOfStruct(&st), u.get(buf, 128))
	require.Equal(t, uint32(sIFREG|0o444), st.Mode)
	require.EqualValues(t, size, st.Size)
	require.EqualValues(t, 7, st.Ino)
	require.Equal(t, errno(EFAULT), svc(tf, sysRead, fd, 0x2000_0000, 10))
	require.Equal(t, errno(EBADF), svc(tf, sysWrite, fd, buf, 1), "read-only")
	ep := svc(tf, sysEpollCreate1, 0)
	require.Equal(t, errno(EPERM), svc(tf, sysEpollCtl, ep, epollCtlAdd, fd, u.put(128, make([]byte, 16))))
}
