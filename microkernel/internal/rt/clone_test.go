package rt

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// clone(2) for threads.

// TestCloneThread: the new thread is runnable in the same process, starts
// with the creator's registers but X0 = 0 and SP = stack, takes its TLS
// from CLONE_SETTLS, inherits the signal mask, and its tid is written at
// ptid (CLONE_PARENT_SETTID).
func TestCloneThread(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	ptid := u.putU32(0, 0)
	setTPIDR0(0x1111)
	th(u.main).sigs.mask = sigBit(sigUSR1)
	th(u.main).sigs.pending = sigBit(sigUSR2)
	th(u.main).sigs.alt = stackT{SP: u.scratch, Size: 2 * pageSize}
	tf.X[20] = 0x2020
	clones := stats.Clones

	r := svc(tf, sysClone, goCloneFlags|cloneSetTLS|cloneParentSettid, u.top(2), ptid, 0xdead0, 0)
	i := findTid(int32(r))
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, r, tf.X[0], "the creator gets the tid")
	n := th(i)
	require.Equal(t, uint8(tsRunnable), n.state)
	require.Equal(t, []int{i}, runQueue())
	require.Equal(t, int16(u.p), n.proc)
	require.True(t, n.user)
	require.Zero(t, n.regs.X[0])
	require.Equal(t, u.top(2), n.regs.SP)
	require.Equal(t, uint64(userPC), n.regs.PC)
	require.Equal(t, uint64(0x2020), n.regs.X[20])
	require.Equal(t, uint64(0xdead0), n.tls)
	require.Equal(t, sigBit(sigUSR1), n.sigs.mask, "mask inherited")
	require.Zero(t, n.sigs.pending, "pending signals are not")
	require.Equal(t, int32(ssDisable), n.sigs.alt.Flags, "nor the alternate stack")
	require.Equal(t, uint32(r), u.u32(ptid))
	require.EqualValues(t, 2, pr(u.p).nthreads)
	require.EqualValues(t, 2, pr(u.p).threadsEv)
	require.Equal(t, clones+1, stats.Clones)

	// Without CLONE_SETTLS the thread starts with the creator's TLS.
	r2 := svc(tf, sysClone, goCloneFlags, u.top(3), 0, 0, 0)
	require.Equal(t, uint64(0x1111), th(findTid(int32(r2))).tls)
	checkKernel(t)
}

// TestCloneThreadLimit: beyond its thread limit a process gets EAGAIN, and
// the console says so once.
func TestCloneThreadLimit(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	pr(u.p).threadLimit = 3
	out := captureOut(t)
	failed := stats.CloneFailed
	u.spawnThread(tf, u.top(4))
	u.spawnThread(tf, u.top(4))
	census := TakeCensus()
	require.Equal(t, errno(EAGAIN), svc(tf, sysClone, goCloneFlags, u.top(4), 0, 0, 0))
	require.Equal(t, errno(EAGAIN), svc(tf, sysClone, goCloneFlags, u.top(4), 0, 0, 0))
	require.Equal(t, census, TakeCensus())
	require.Equal(t, failed+2, stats.CloneFailed)
	line := fmt.Sprintf("armos: process test (pid %d) reached its thread limit (3): clone fails with EAGAIN\n", u.pid)
	require.Equal(t, 1, strings.Count(out.String(), line), "named once: %q", out.String())
	require.EqualValues(t, 3, pr(u.p).nthreads)
}

// TestCloneRejectsBadFlags: unsupported flags are EINVAL, a thread needs
// CLONE_VM|CLONE_SIGHAND and a stack, a copying fork is ENOSYS; none of
// them leaves anything behind.
func TestCloneRejectsBadFlags(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	census := TakeCensus()
	cases := []struct {
		name  string
		flags uint64
		stack uint64
		ptid  uint64
		want  uint64
	}{
		{"CLONE_PARENT", goCloneFlags | cloneParent, u.top(4), 0, errno(EINVAL)},
		{"CLONE_NEWNS", goCloneFlags | 0x20000, u.top(4), 0, errno(EINVAL)},
		{"CLONE_PTRACE", goCloneFlags | 0x2000, u.top(4), 0, errno(EINVAL)},
		{"CLONE_NEWPID", goCloneFlags | 0x2000_0000, u.top(4), 0, errno(EINVAL)},
		{"thread without CLONE_VM", cloneThread | cloneSighand, u.top(4), 0, errno(EINVAL)},
		{"thread without CLONE_SIGHAND", cloneThread | cloneVM, u.top(4), 0, errno(EINVAL)},
		{"thread without a stack", goCloneFlags, 0, 0, errno(EINVAL)},
		{"fork", sigCHLD, 0, 0, errno(ENOSYS)},
		{"CLONE_VM without CLONE_VFORK", cloneVM | sigCHLD, 0, 0, errno(ENOSYS)},
		{"bad ptid", goCloneFlags | cloneParentSettid, u.top(4), 0x8, errno(EFAULT)},
		{"ptid in the kernel half", goCloneFlags | cloneParentSettid, u.top(4), 1 << 47, errno(EFAULT)},
	}
	for _, c := range cases {
		require.Equal(t, int64(c.want), int64(svc(tf, sysClone, c.flags, c.stack, c.ptid, 0, 0)), c.name)
		require.EqualValues(t, 1, pr(u.p).nthreads, c.name)
		require.Equal(t, census, TakeCensus(), c.name)
	}
	checkKernel(t)
}

// TestCloneFromKernelMakesKernelThread: the kernel's runtime clones its Ms
// through the same call; they belong to slot 0 and run at EL1.
func TestCloneFromKernelMakesKernelThread(t *testing.T) {
	resetKernel(t, 256)
	var tf Frame
	tf.PSTATE = pstateEL1t
	r := svc(&tf, sysClone, goCloneFlags|cloneSetTLS, 0x1234_0000, 0, 0x99, 0)
	i := findTid(int32(r))
	require.GreaterOrEqual(t, i, 0)
	require.Zero(t, int(th(i).proc))
	require.False(t, th(i).user)
	require.Equal(t, uint64(0x99), th(i).tls)
	require.Equal(t, uint64(pstateEL1t), th(i).regs.PSTATE)
	require.Equal(t, errno(EINVAL), svc(&tf, sysClone, vforkFlags, 0, 0, 0, 0), "the kernel spawns, it does not vfork")
}
