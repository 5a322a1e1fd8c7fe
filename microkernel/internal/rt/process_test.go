package rt

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// The process table's limits and failure paths.

// TestProcessTableFull: the table holds maxProcs-1 user processes; then
// NewProcess fails with ErrNoSlot and vfork with EAGAIN, leaving nothing.
func TestProcessTableFull(t *testing.T) {
	resetKernel(t, 2600)
	base := TakeCensus()
	u, tf := newUserFrame(t, 1)
	var pids []int32
	for {
		pid, err := NewProcess("filler", Limits{})
		if err != nil {
			require.ErrorIs(t, err, ErrNoSlot)
			break
		}
		pids = append(pids, pid)
	}
	require.Len(t, pids, maxProcs-2, "the kernel and u hold two slots")
	census := TakeCensus()
	require.Equal(t, errno(EAGAIN), svc(tf, sysClone, vforkFlags, 0, 0, 0, 0))
	require.Equal(t, uint8(tsRunning), th(u.main).state)
	require.Equal(t, census, TakeCensus())
	for _, pid := range pids {
		require.NoError(t, Kill(pid, sigKILL))
	}
	svc(tf, sysExitGroup, 0)
	reapAll(t)
	for _, pid := range append(pids, u.pid) {
		collect(t, pid)
	}
	require.Equal(t, base, TakeCensus())
}

// TestNewProcessFailsCleanly: whatever allocation runs out while a
// process is being made, the failure gives everything back.
func TestNewProcessFailsCleanly(t *testing.T) {
	failures := 0
	for left := 0; left < 16; left++ {
		resetKernel(t, 64)
		// Leave exactly `left` free pages.
		for physPages.Stats().Free > uint64(left) {
			_, e := physPages.Alloc()
			require.Zero(t, int(e))
		}
		census := TakeCensus()
		free, kernelTables := physPages.Stats().Free, kas.OwnedPages()
		pid, err := NewProcess("tight", Limits{})
		if err != nil {
			failures++
			// (With no page for the first thread, newProcess says EAGAIN,
			// which NewProcess reports as ErrNoSlot.)
			require.True(t, errors.Is(err, ErrNoMemory) || errors.Is(err, ErrNoSlot), "%d pages left: %v", left, err)
			require.Equal(t, census, TakeCensus(), "%d pages left", left)
			// The kernel may keep the level 1 tables of its window that
			// it made for sharing (ShareFrom); nothing else is kept.
			require.Equal(t, free-physPages.Stats().Free, kas.OwnedPages()-kernelTables, "%d pages left", left)
			continue
		}
		require.NoError(t, Kill(pid, sigKILL))
		reapAll(t)
		collect(t, pid)
		require.Equal(t, census, TakeCensus(), "%d pages left", left)
	}
	require.Greater(t, failures, 3, "several stages failed")
}

// TestCloneFailsCleanlyWithoutMemory: clone with no page for the thread
// is EAGAIN and leaves the process as it was.
func TestCloneFailsCleanlyWithoutMemory(t *testing.T) {
	resetKernel(t, 64)
	u, tf := newUserFrame(t, 1)
	for physPages.Stats().Free > 0 {
		_, e := physPages.Alloc()
		require.Zero(t, int(e))
	}
	census := TakeCensus()
	require.Equal(t, errno(EAGAIN), svc(tf, sysClone, goCloneFlags, u.top(1), 0, 0, 0))
	require.Equal(t, errno(ENOMEM), svc(tf, sysClone, vforkFlags, 0, 0, 0, 0), "vfork: no room for a process")
	require.Equal(t, errno(ENOMEM), svc(tf, sysPipe2, u.scratch, 0))
	require.Equal(t, errno(ENOMEM), svc(tf, sysEpollCreate1, 0))
	require.Equal(t, census, TakeCensus())
	require.EqualValues(t, 1, pr(u.p).nthreads)
	checkKernel(t)
}
