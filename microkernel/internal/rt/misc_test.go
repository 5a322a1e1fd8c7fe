package rt

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/mm"
)

// Identity, limits, randomness and system information.

// TestGetrandom: fresh bytes every call; a buffer running into an unmapped
// page gets a short count; at most maxIOChunk bytes per call.
func TestGetrandom(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a, b := u.scratch+64, u.scratch+128
	require.EqualValues(t, 64, svc(tf, sysGetrandom, a, 64, 0))
	require.EqualValues(t, 64, svc(tf, sysGetrandom, b, 64, 1 /* GRND_NONBLOCK */))
	ra, rb := u.get(a, 64), u.get(b, 64)
	require.False(t, bytes.Equal(ra, rb), "two calls, two answers")
	require.NotEqual(t, make([]byte, 64), ra)

	edge := u.top(4) - 100
	require.EqualValues(t, 100, svc(tf, sysGetrandom, edge, 300, 0), "up to the unmapped page")
	require.EqualValues(t, maxIOChunk, svc(tf, sysGetrandom, u.scratch, 3*pageSize, 0))
	require.Zero(t, svc(tf, sysGetrandom, a, 0, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysGetrandom, a, 8, 8))
	require.Equal(t, errno(EFAULT), svc(tf, sysGetrandom, 0x8, 8, 0))

	// The kernel's entry point for AT_RANDOM.
	k1, k2 := make([]byte, 300), make([]byte, 300)
	Random(k1)
	Random(k2)
	require.False(t, bytes.Equal(k1, k2))
}

// TestChaCha20Block checks the block function against RFC 8439, 2.3.2.
func TestChaCha20Block(t *testing.T) {
	var key [8]uint32
	for i := range key {
		key[i] = uint32(4*i) | uint32(4*i+1)<<8 | uint32(4*i+2)<<16 | uint32(4*i+3)<<24
	}
	var out [64]byte
	chachaBlock(&out, &key, 1, [3]uint32{0x09000000, 0x4a000000, 0})
	want := []byte{
		0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4,
		0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22, 0xaa, 0x9a, 0xc3, 0xd4, 0x6c, 0x4e,
		0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa, 0x09, 0x14, 0xc2, 0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2,
		0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e,
	}
	require.Equal(t, want, out[:])
}

// TestUname: Linux, aarch64, and a deliberately old release.
func TestUname(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	buf := u.scratch + 512
	require.Zero(t, svc(tf, sysUname, buf))
	field := func(i int) string {
		b := u.get(buf+uint64(i*65), 65)
		return string(b[:bytes.IndexByte(b, 0)])
	}
	require.Equal(t, "Linux", field(0))
	require.Equal(t, "armos", field(1))
	require.True(t, strings.HasPrefix(field(2), "2.6."), field(2))
	require.Equal(t, "aarch64", field(4))
	require.Equal(t, errno(EFAULT), svc(tf, sysUname, 0x8))
}

// TestPrlimit64: the enforced limits are reported, the rest infinite;
// raising beyond an enforced limit is EPERM.
func TestPrlimit64(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	pr(u.p).as.Limit = 1000
	old := u.scratch + 256
	get := func(pid, res uint64) [2]uint64 {
		t.Helper()
		require.Zero(t, svc(tf, sysPrlimit64, pid, res, 0, old))
		return [2]uint64{u.u64(old), u.u64(old + 8)}
	}
	require.Equal(t, [2]uint64{maxFds, maxFds}, get(0, rlimitNofile))
	require.Equal(t, [2]uint64{defaultThreadLimit, defaultThreadLimit}, get(0, rlimitNproc))
	require.Equal(t, [2]uint64{1000 * pageSize, 1000 * pageSize}, get(uint64(u.pid), rlimitAS))
	require.Equal(t, [2]uint64{8 << 20, rlimInfinity}, get(0, rlimitStack))
	require.Equal(t, [2]uint64{rlimInfinity, rlimInfinity}, get(0, 4 /* CORE */))
	require.Equal(t, [2]uint64{rlimInfinity, rlimInfinity}, get(1, rlimitAS), "the kernel has no limit")

	set := func(cur, max uint64) uint64 { return u.put(0, append(le64(cur), le64(max)...)) }
	require.Zero(t, svc(tf, sysPrlimit64, 0, rlimitNofile, set(100, 256), 0))
	require.Equal(t, errno(EPERM), svc(tf, sysPrlimit64, 0, rlimitNofile, set(100, 257), 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysPrlimit64, 0, rlimitNofile, set(200, 100), 0))
	require.Zero(t, svc(tf, sysPrlimit64, 0, rlimitStack, set(1<<30, rlimInfinity), 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysPrlimit64, 0, rlimNlimits, 0, old))
	require.Equal(t, errno(ESRCH), svc(tf, sysPrlimit64, 99999, rlimitNofile, 0, old))
	require.Equal(t, errno(EFAULT), svc(tf, sysPrlimit64, 0, rlimitNofile, 0x8, 0))
	require.Equal(t, errno(EFAULT), svc(tf, sysPrlimit64, 0, rlimitNofile, 0, 0x8))
}

// TestSchedAffinity: processes see one CPU, the kernel's runtime two.
func TestSchedAffinity(t *testing.T) {
	resetKernel(t, 256)
	var tk Frame
	u, tf := newUserFrame(t, 4)
	mask := u.scratch + 64
	require.EqualValues(t, 8, svc(tf, sysSchedGetaffinity, 0, 128, mask))
	require.EqualValues(t, 1, u.u64(mask))
	require.Equal(t, errno(EINVAL), svc(tf, sysSchedGetaffinity, 0, 4, mask))
	require.Equal(t, errno(EINVAL), svc(tf, sysSchedGetaffinity, 0, 12, mask))
	require.Equal(t, errno(EFAULT), svc(tf, sysSchedGetaffinity, 0, 8, 0x8))
	require.Zero(t, svc(tf, sysSchedSetaffinity, 0, 8, u.putU64(0, 1)))
	require.Equal(t, errno(EINVAL), svc(tf, sysSchedSetaffinity, 0, 8, u.putU64(0, 2)))
	require.Equal(t, errno(EFAULT), svc(tf, sysSchedSetaffinity, 0, 8, 0x8))

	// The kernel: the answer lands in its own heap.
	runKernel()
	heap := kernelScratch(t, 1)
	require.EqualValues(t, 8, svc(&tk, sysSchedGetaffinity, 0, 8, heap))
	var b [8]byte
	_, e := kas.CopyIn(b[:], heap)
	require.Equal(t, mm.OK, e)
	require.Equal(t, le64(1<<virtualCPUs-1), b[:])
}

// TestIdentity: pid, tid, ppid, uids.
func TestIdentity(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	b := u.spawnThread(tf, u.top(4))
	require.Equal(t, uint64(u.pid), svc(tf, sysGetpid))
	require.Equal(t, uint64(th(u.main).tid), svc(tf, sysGettid))
	require.Equal(t, uint64(u.pid), uint64(th(u.main).tid), "the pid is the main thread's tid")
	require.EqualValues(t, 1, svc(tf, sysGetppid), "a child of the kernel (pid 1)")
	switchTo(t, tf, b)
	require.Equal(t, uint64(u.pid), svc(tf, sysGetpid))
	require.Equal(t, uint64(th(b).tid), svc(tf, sysGettid))
	for _, nr := range []uint64{sysGetuid, sysGeteuid, sysGetgid, sysGetegid, sysSetRobustList} {
		require.Zero(t, svc(tf, nr, u.scratch, 24), syscalls[nr].name)
	}
	ids := u.put(0, []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	require.Zero(t, svc(tf, sysGetresuid, ids, ids+4, ids+8))
	require.Equal(t, make([]byte, 12), u.get(ids, 12))
	require.Zero(t, svc(tf, sysGetresgid, ids, ids+4, ids+8))
	require.Equal(t, errno(EFAULT), svc(tf, sysGetresuid, ids, 0x8, ids))
	kid := u.newChild(1)
	switchTo(t, tf, kid.main)
	require.Equal(t, uint64(u.pid), svc(tf, sysGetppid))
	require.Equal(t, uint64(0o022), svc(tf, sysUmask, 0))
}

// TestRtSigpending: the blocked signals pending on the thread or its
// process.
func TestRtSigpending(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	pr(u.p).sigact[sigUSR1] = sigaction{Handler: handlerPC}
	pr(u.p).sigact[sigUSR2] = sigaction{Handler: handlerPC}
	th(u.main).sigs.mask = sigBit(sigUSR1) | sigBit(sigUSR2)
	require.Zero(t, svc(tf, sysTgkill, uint64(u.pid), uint64(u.pid), sigUSR1))
	require.Zero(t, svc(tf, sysKill, uint64(u.pid), sigUSR2))
	set := u.scratch + 64
	require.Zero(t, svc(tf, sysRtSigpending, set, 8))
	require.Equal(t, sigBit(sigUSR1)|sigBit(sigUSR2), u.u64(set))
	require.Equal(t, errno(EINVAL), svc(tf, sysRtSigpending, set, 4))
	require.Equal(t, errno(EFAULT), svc(tf, sysRtSigpending, 0x8, 8))
}

// TestUsageAndTimes: getrusage and times report zeroed accounting.
func TestUsageAndTimes(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	buf := u.put(0, bytes.Repeat([]byte{0xff}, 144))
	require.Zero(t, svc(tf, sysGetrusage, 0, buf))
	require.Equal(t, make([]byte, 144), u.get(buf, 144))
	require.Zero(t, svc(tf, sysGetrusage, neg(-1), buf))
	require.Zero(t, svc(tf, sysGetrusage, 1, buf))
	require.Equal(t, errno(EINVAL), svc(tf, sysGetrusage, 2, buf))
	require.Equal(t, errno(EFAULT), svc(tf, sysGetrusage, 0, 0x8))
	u.put(0, bytes.Repeat([]byte{0xff}, 32))
	ticks := svc(tf, sysTimes, buf)
	require.Less(t, int64(ticks), int64(1)<<40)
	require.GreaterOrEqual(t, int64(ticks), int64(0))
	require.Equal(t, make([]byte, 32), u.get(buf, 32))
	require.Equal(t, errno(EFAULT), svc(tf, sysTimes, 0x8))
}

// TestPrctlNameGetcwdSysinfo: PR_SET_NAME/PR_GET_NAME rename the process
// (15 bytes at most), getcwd is "/", sysinfo counts processes.
func TestPrctlNameGetcwdSysinfo(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	const prSetName, prGetName = 15, 16
	require.Zero(t, svc(tf, sysPrctl, prSetName, u.put(0, []byte("a-rather-long-thread-name\x00"))))
	require.Equal(t, "a-rather-long-t", ProcessName(u.pid))
	out := u.scratch + 128
	require.Zero(t, svc(tf, sysPrctl, prGetName, out))
	require.Equal(t, append([]byte("a-rather-long-t"), 0), u.get(out, 16))
	require.Zero(t, svc(tf, sysPrctl, prSetName, u.put(0, []byte("w\x00"))))
	require.Equal(t, "w", ProcessName(u.pid))
	require.Equal(t, errno(EFAULT), svc(tf, sysPrctl, prSetName, 0x8))
	require.Equal(t, errno(EINVAL), svc(tf, sysPrctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1))

	require.EqualValues(t, 2, svc(tf, sysGetcwd, out, 64))
	require.Equal(t, []byte("/\x00"), u.get(out, 2))
	require.Equal(t, errno(ERANGE), svc(tf, sysGetcwd, out, 1))
	require.Equal(t, errno(EFAULT), svc(tf, sysGetcwd, 0x8, 64))

	si := u.scratch + 512
	require.Zero(t, svc(tf, sysSysinfo, si))
	require.EqualValues(t, 2, u.get(si+80, 2)[0], "the kernel and this process")
	require.EqualValues(t, pageSize, u.u32(si+104), "mem_unit")
	require.Equal(t, physPages.Stats().Total, u.u64(si+32))
	require.Equal(t, errno(EFAULT), svc(tf, sysSysinfo, 0x8))
}

// kernelScratch maps n pages of the kernel's heap window for calls the
// kernel's own runtime makes, and returns their address.
func kernelScratch(t *testing.T, n int) uint64 {
	t.Helper()
	va, _, e := kas.Mmap(0, uint64(n)*pageSize, mm.ProtRead|mm.ProtWrite, 0, false, nil)
	require.Equal(t, mm.OK, e)
	return va
}
