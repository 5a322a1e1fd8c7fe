package rt

import (
	"testing"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/mm"
)

// Memory system calls of a user process: mmap, munmap, madvise, mprotect,
// mincore, msync, and the TLB invalidation they owe.

const (
	protRW   = uint64(mm.ProtRead | mm.ProtWrite)
	anonPriv = mapPrivate | mapAnonymous
)

// owned is the number of data pages process u's address space holds
// (translation tables not counted: unmapping may free those too).
func (u *uproc) owned() uint64 { return pr(u.p).as.PT.Stats().Owned }

// mapped reports whether va has a page in u's tables.
func (u *uproc) mapped(va uint64) bool {
	_, _, ok := pr(u.p).as.PT.Lookup(va)
	return ok
}

// touch writes b at va of u (a first touch maps the page).
func (u *uproc) touch(va uint64, b byte) {
	_, e := pr(u.p).as.CopyOut(va, []byte{b})
	require.Equal(u.t, mm.OK, e)
}

// TestMmapAnonymous: demand-zero regions; the hint is honoured when free;
// MAP_FIXED replaces (and frees) what was there; the errors Linux gives.
func TestMmapAnonymous(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	mmaps := stats.Mmaps
	owned := u.owned()
	a := svc(tf, sysMmap, 0, 3*pageSize, protRW, anonPriv, neg(-1), 0)
	require.Less(t, a, uint64(mm.UserHigh))
	require.Zero(t, a%pageSize)
	require.Equal(t, owned, u.owned(), "nothing is allocated until touched")
	u.touch(a+pageSize, 7)
	require.Equal(t, []byte{0, 7, 0}, u.get(a+pageSize-1, 3))
	require.Equal(t, mmaps+1, stats.Mmaps)

	const hint = 0x2000_0000
	require.EqualValues(t, hint, svc(tf, sysMmap, hint, 2*pageSize, protRW, anonPriv, neg(-1), 0))
	other := svc(tf, sysMmap, hint, pageSize, protRW, anonPriv, neg(-1), 0)
	require.NotEqual(t, uint64(hint), other, "an occupied hint is not honoured without MAP_FIXED")
	require.Less(t, other, uint64(mm.UserHigh))
	_, found := pr(u.p).as.VMAs.Find(other)
	require.True(t, found)

	// MAP_FIXED over touched pages drops them: zero again, memory back.
	u.touch(hint, 1)
	u.touch(hint+pageSize, 2)
	before := u.owned()
	require.EqualValues(t, hint, svc(tf, sysMmap, hint, 2*pageSize, protRW, anonPriv|mapFixed, neg(-1), 0))
	require.Equal(t, before-2, u.owned())
	require.Equal(t, []byte{0}, u.get(hint, 1))
	require.Equal(t, errno(EEXIST), svc(tf, sysMmap, hint, pageSize, protRW, anonPriv|mapFixedNoreplace, neg(-1), 0))
	require.EqualValues(t, 0x3000_0000, svc(tf, sysMmap, 0x3000_0000, pageSize, protRW, anonPriv|mapFixedNoreplace, neg(-1), 0))

	bad := []struct {
		name                    string
		addr, n, prot, flags, o uint64
		want                    uint64
	}{
		{"length 0", 0, 0, protRW, anonPriv, 0, errno(EINVAL)},
		{"file mapping", 0, pageSize, protRW, mapPrivate, 0, errno(EBADF)},
		{"neither shared nor private", 0, pageSize, protRW, mapAnonymous, 0, errno(EINVAL)},
		{"bad prot", 0, pageSize, 8, anonPriv, 0, errno(EINVAL)},
		{"unaligned offset", 0, pageSize, protRW, anonPriv, 100, errno(EINVAL)},
		{"huge length", 0, 1 << 62, protRW, anonPriv, 0, errno(ENOMEM)},
		{"longer than the user half", 0, mm.UserHigh, protRW, anonPriv, 0, errno(ENOMEM)},
		{"MAP_FIXED unaligned", hint + 1, pageSize, protRW, anonPriv | mapFixed, 0, errno(EINVAL)},
		{"MAP_FIXED in the kernel half", 1 << 47, pageSize, protRW, anonPriv | mapFixed, 0, errno(ENOMEM)},
		{"MAP_FIXED across the top", mm.UserHigh - pageSize, 2 * pageSize, protRW, anonPriv | mapFixed, 0, errno(ENOMEM)},
		{"MAP_FIXED below UserLow", 0x1000, pageSize, protRW, anonPriv | mapFixed, 0, errno(ENOMEM)},
	}
	census := TakeCensus()
	for _, c := range bad {
		require.Equal(t, int64(c.want), int64(svc(tf, sysMmap, c.addr, c.n, c.prot, c.flags, neg(-1), c.o)), c.name)
	}
	require.Equal(t, census, TakeCensus())
}

// TestMunmap: alignment and range rules; unmapping frees the pages and
// the region (a later access is EFAULT); holes and ranges below the user
// half are fine.
func TestMunmap(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a := svc(tf, sysMmap, 0, 4*pageSize, protRW, anonPriv, neg(-1), 0)
	for k := uint64(0); k < 4; k++ {
		u.touch(a+k*pageSize, byte(k+1))
	}
	before := u.owned()
	require.Equal(t, errno(EINVAL), svc(tf, sysMunmap, a+1, pageSize))
	require.Equal(t, errno(EINVAL), svc(tf, sysMunmap, a, 0))
	require.Equal(t, errno(EINVAL), svc(tf, sysMunmap, 1<<47, pageSize))
	require.Equal(t, errno(EINVAL), svc(tf, sysMunmap, mm.UserHigh-pageSize, 2*pageSize))
	require.Zero(t, svc(tf, sysMunmap, 0, pageSize), "below the user half: nothing there")
	require.Zero(t, svc(tf, sysMunmap, a+pageSize, 2*pageSize))
	require.Equal(t, before-2, u.owned())
	_, found := pr(u.p).as.VMAs.Find(a + pageSize)
	require.False(t, found)
	require.Equal(t, errno(EFAULT), svc(tf, sysWrite, 1, a+pageSize, 1))
	require.Equal(t, []byte{4}, u.get(a+3*pageSize, 1), "the rest stays")
	require.Zero(t, svc(tf, sysMunmap, a, 4*pageSize), "holes are fine")
	require.Equal(t, before-4, u.owned())
	require.Zero(t, svc(tf, sysMunmap, 0, a+pageSize), "a range starting below UserLow")
}

// TestMadvise: DONTNEED and FREE give pages back (they read back zero),
// other advice is accepted; ranges must be mapped.
func TestMadvise(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a := svc(tf, sysMmap, 0, 4*pageSize, protRW, anonPriv, neg(-1), 0)
	for k := uint64(0); k < 4; k++ {
		u.touch(a+k*pageSize, byte(k+1))
	}
	before := u.owned()
	madvises := stats.Madvises
	require.Zero(t, svc(tf, sysMadvise, a, 4*pageSize, 0 /* NORMAL */))
	require.Equal(t, before, u.owned())
	require.Zero(t, svc(tf, sysMadvise, a+pageSize, pageSize, madvDontneed))
	require.Zero(t, svc(tf, sysMadvise, a+2*pageSize, pageSize-100, madvFree), "length rounded up")
	require.Equal(t, before-2, u.owned())
	require.Equal(t, []byte{1}, u.get(a, 1))
	require.Equal(t, []byte{0}, u.get(a+pageSize, 1))
	require.Equal(t, []byte{0}, u.get(a+2*pageSize, 1))
	require.Equal(t, []byte{4}, u.get(a+3*pageSize, 1))
	require.Equal(t, madvises+2, stats.Madvises)

	require.Equal(t, errno(EINVAL), svc(tf, sysMadvise, a+1, pageSize, madvDontneed))
	require.Equal(t, errno(EINVAL), svc(tf, sysMadvise, a, neg(-4096), madvDontneed))
	require.Zero(t, svc(tf, sysMadvise, a, 0, madvDontneed))
	require.Equal(t, errno(ENOMEM), svc(tf, sysMadvise, 0x5000_0000, pageSize, madvDontneed))
	require.Equal(t, errno(ENOMEM), svc(tf, sysMadvise, a, 5*pageSize, madvDontneed), "runs past the region")
	require.Equal(t, errno(ENOMEM), svc(tf, sysMadvise, 0x5000_0000, pageSize, 0), "checked for any advice")
}

// TestMprotect: protections are enforced (copy-out into a read-only page
// fails, nothing reaches a PROT_NONE page, whose contents survive as on
// Linux), holes are ENOMEM.
func TestMprotect(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a := svc(tf, sysMmap, 0, 4*pageSize, protRW, anonPriv, neg(-1), 0)
	for k := uint64(0); k < 4; k++ {
		u.touch(a+k*pageSize, byte(k+1))
	}
	r, w := pipeFds(t, u, tf, oNONBLOCK)
	require.EqualValues(t, 3, svc(tf, sysWrite, w, a, 3))
	require.Zero(t, svc(tf, sysMprotect, a, 2*pageSize, uint64(mm.ProtRead)))
	require.Equal(t, errno(EFAULT), svc(tf, sysRead, r, a, 3), "read-only now")
	require.EqualValues(t, 3, svc(tf, sysWrite, w, a, 3), "still readable")
	before := u.owned()
	require.Zero(t, svc(tf, sysMprotect, a+2*pageSize, pageSize, 0))
	require.Equal(t, before, u.owned(), "PROT_NONE keeps the page, as on Linux")
	require.Equal(t, errno(EFAULT), svc(tf, sysWrite, w, a+2*pageSize, 1), "but nobody may touch it")
	require.Equal(t, errno(EFAULT), svc(tf, sysRead, r, a+2*pageSize, 1))
	require.Zero(t, svc(tf, sysMprotect, a+2*pageSize, pageSize, protRW))
	require.Equal(t, []byte{3}, u.get(a+2*pageSize, 1), "its contents come back")

	require.Zero(t, svc(tf, sysMunmap, a+pageSize, pageSize))
	require.Equal(t, errno(ENOMEM), svc(tf, sysMprotect, a, 3*pageSize, protRW), "a hole")
	require.Equal(t, errno(ENOMEM), svc(tf, sysMprotect, 0x5000_0000, pageSize, protRW))
	require.Equal(t, errno(EINVAL), svc(tf, sysMprotect, a+1, pageSize, protRW))
	require.Equal(t, errno(EINVAL), svc(tf, sysMprotect, a, pageSize, 8))
	require.Zero(t, svc(tf, sysMprotect, a, 0, protRW))
	require.Equal(t, errno(ENOMEM), svc(tf, sysMprotect, a, 1<<62, protRW))
}

// TestMincoreAndMsync: mincore reports resident pages; both need the
// range mapped.
func TestMincoreAndMsync(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a := svc(tf, sysMmap, 0, 70*pageSize, protRW, anonPriv, neg(-1), 0)
	u.touch(a, 1)
	u.touch(a+2*pageSize, 1)
	u.touch(a+69*pageSize, 1)
	vec := u.scratch + pageSize
	require.Zero(t, svc(tf, sysMincore, a, 70*pageSize, vec))
	want := make([]byte, 70)
	want[0], want[2], want[69] = 1, 1, 1
	require.Equal(t, want, u.get(vec, 70), "more pages than one chunk")
	require.Equal(t, errno(ENOMEM), svc(tf, sysMincore, 0x5000_0000, pageSize, vec))
	require.Equal(t, errno(ENOMEM), svc(tf, sysMincore, a, 71*pageSize, vec))
	require.Equal(t, errno(EINVAL), svc(tf, sysMincore, a+1, pageSize, vec))
	require.Equal(t, errno(EFAULT), svc(tf, sysMincore, a, pageSize, 0x8))

	const msAsync, msSync = 1, 4
	require.Zero(t, svc(tf, sysMsync, a, 70*pageSize, msSync))
	require.Zero(t, svc(tf, sysMsync, a, 0, msSync))
	require.Equal(t, errno(ENOMEM), svc(tf, sysMsync, 0x5000_0000, pageSize, msSync))
	require.Equal(t, errno(EINVAL), svc(tf, sysMsync, a, pageSize, msAsync|msSync))
	require.Equal(t, errno(EINVAL), svc(tf, sysMsync, a+1, pageSize, msSync))
	require.Equal(t, errno(EINVAL), svc(tf, sysMsync, a, pageSize, 8))
}

// TestDroppedPagesAreInvalidated: munmap, madvise and mprotect of pages
// present invalidate the TLB by the process's ASID when it has a current
// one; a process that never ran (no ASID) needs nothing.
func TestDroppedPagesAreInvalidated(t *testing.T) {
	if !hostStandIns {
		t.Skip("counts TLB invalidations through the host stand-ins")
	}
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	a := svc(tf, sysMmap, 0, 8*pageSize, protRW, anonPriv, neg(-1), 0)
	for k := uint64(0); k < 8; k++ {
		u.touch(a+k*pageSize, 1)
	}
	n := tlbiCalls()
	require.Zero(t, svc(tf, sysMunmap, a, pageSize))
	require.Equal(t, n, tlbiCalls(), "no ASID yet: no TLB entries to drop")

	procTTBR(u.p) // switched to: it has an ASID of the current generation
	for _, c := range []struct {
		name string
		nr   uint64
		args []uint64
	}{
		{"munmap", sysMunmap, []uint64{a + pageSize, pageSize}},
		{"madvise", sysMadvise, []uint64{a + 2*pageSize, pageSize, madvDontneed}},
		{"mprotect read-only", sysMprotect, []uint64{a + 3*pageSize, pageSize, uint64(mm.ProtRead)}},
		{"mprotect none", sysMprotect, []uint64{a + 4*pageSize, pageSize, 0}},
		{"MAP_FIXED", sysMmap, []uint64{a + 5*pageSize, pageSize, protRW, anonPriv | mapFixed, neg(-1), 0}},
	} {
		n := tlbiCalls()
		r := svc(tf, c.nr, c.args...)
		require.Less(t, r, uint64(mm.UserHigh), c.name)
		require.Greater(t, tlbiCalls(), n, c.name)
	}
	// Nothing present: nothing to invalidate.
	n = tlbiCalls()
	require.Zero(t, svc(tf, sysMadvise, a+2*pageSize, pageSize, madvDontneed))
	require.Equal(t, n, tlbiCalls())
}

// TestMincoreZeroLength: Linux's mincore with length 0 succeeds (it
// checks the start's alignment and writes nothing).
func TestMincoreZeroLength(t *testing.T) {
	resetKernel(t, 256)
	_, tf := newUserFrame(t, 4)
	require.Equal(t, errno(EINVAL), svc(tf, sysMincore, scratchVA+1, 0, scratchVA))
	require.Zero(t, svc(tf, sysMincore, scratchVA, 0, scratchVA),
		"BUG: mincore(addr, 0, vec) is ENOMEM (pageRound refuses 0); Linux returns 0")
}

// TestKernelMmap: the kernel's own runtime maps its heap window through
// the same calls; it never maps anything executable, and what it unmaps
// is invalidated globally.
func TestKernelMmap(t *testing.T) {
	resetKernel(t, 256)
	var tf Frame
	a := svc(&tf, sysMmap, 0, 4*pageSize, protRW, anonPriv, neg(-1), 0)
	require.GreaterOrEqual(t, a, uint64(mm.KernelHeapBase))
	require.Less(t, a, uint64(mm.KernelHeapEnd))
	_, e := kas.CopyOut(a, []byte{1, 2, 3})
	require.Equal(t, mm.OK, e)
	require.Equal(t, errno(EPERM), svc(&tf, sysMmap, 0, pageSize, protRW|uint64(mm.ProtExec), anonPriv, neg(-1), 0))
	require.Equal(t, errno(EPERM), svc(&tf, sysMprotect, a, pageSize, uint64(mm.ProtRead|mm.ProtExec)))
	n := tlbiCalls()
	require.Zero(t, svc(&tf, sysMadvise, a, pageSize, madvDontneed))
	if hostStandIns {
		require.Equal(t, n+1, tlbiCalls(), "a global invalidation of the kernel's page")
	}
	require.Zero(t, svc(&tf, sysMunmap, a, 4*pageSize))
	_, found := kas.VMAs.Find(a)
	require.False(t, found)
}

// TestMemoryCallsRestartInBoundedSteps: munmap, madvise and MAP_FIXED of a
// big populated range do a bounded number of batches per call and restart
// themselves (PC back on the SVC, the argument registers describing what
// is left) until done; each step frees at most a few batches.
func TestMemoryCallsRestartInBoundedSteps(t *testing.T) {
	const pages = 700
	resetKernel(t, 1600)
	u, tf := newUserFrame(t, 1)
	populate := func() uint64 {
		a := svc(tf, sysMmap, 0, pages*pageSize, protRW, anonPriv, neg(-1), 0)
		require.Less(t, a, uint64(mm.UserHigh))
		for k := uint64(0); k < pages; k++ {
			u.touch(a+k*pageSize, 1)
		}
		return a
	}
	// run makes the call and follows its restarts; it returns the result
	// and the number of restarts.
	run := func(nr uint64, args ...uint64) (uint64, int) {
		t.Helper()
		tf.PC = userPC
		svc(tf, nr, args...)
		restarts := 0
		for tf.PC == userPC-4 {
			restarts++
			require.Less(t, restarts, pages)
			before := u.owned()
			retry(t, tf)
			require.LessOrEqual(t, before-u.owned(), uint64(4*mm.FreeBatchCap), "a bounded step")
		}
		require.Equal(t, uint64(userPC), tf.PC)
		return tf.X[0], restarts
	}

	a := populate()
	r, restarts := run(sysMunmap, a, pages*pageSize)
	require.Zero(t, r)
	require.Positive(t, restarts)
	require.Zero(t, u.owned())
	_, found := pr(u.p).as.VMAs.Find(a + (pages-1)*pageSize)
	require.False(t, found, "the whole range is gone")

	a = populate()
	r, restarts = run(sysMadvise, a, pages*pageSize, madvDontneed)
	require.Zero(t, r)
	require.Positive(t, restarts)
	require.Zero(t, u.owned())
	_, found = pr(u.p).as.VMAs.Find(a + (pages-1)*pageSize)
	require.True(t, found, "madvise keeps the region")

	for k := uint64(0); k < pages; k++ {
		u.touch(a+k*pageSize, 1)
	}
	r, restarts = run(sysMmap, a, pages*pageSize, uint64(mm.ProtRead), anonPriv|mapFixed, neg(-1), 0)
	require.Equal(t, a, r)
	require.Positive(t, restarts)
	require.Zero(t, u.owned())
	v, _ := pr(u.p).as.VMAs.Find(a)
	require.Equal(t, mm.ProtRead, v.Prot, "replaced")
	checkKernel(t)
}

// TestMprotectNoneKeepsPages: a user PROT_NONE keeps its page, made
// inaccessible: a fault on it is SIGSEGV with SEGV_ACCERR, not a fresh
// zero page.
func TestMprotectNoneKeepsPages(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	setAction(t, u, tf, sigSEGV, sigaction{Handler: handlerPC, Flags: saNodefer})
	a := svc(tf, sysMmap, 0, pageSize, protRW, anonPriv, neg(-1), 0)
	u.touch(a, 9)
	require.Zero(t, svc(tf, sysMprotect, a, pageSize, 0))
	tf.SP, tf.PC = u.top(8), userPC
	userFault(tf, dataAbort(false, true), a+8)
	require.Equal(t, uint64(handlerPC), tf.PC)
	require.Equal(t, uint32(segvAccerr), u.u32(tf.SP+8))
	require.Equal(t, uint8(psLive), pr(u.p).state)
}

// TestMprotectAndMincoreRestartInBoundedSteps: mprotect and mincore over
// more pages than one call may handle restart for the rest (their
// registers describe it), and the end result is the whole range done.
func TestMprotectAndMincoreRestartInBoundedSteps(t *testing.T) {
	const pages = 2600
	resetKernel(t, 3200)
	u, tf := newUserFrame(t, 1)
	a := svc(tf, sysMmap, 0, pages*pageSize, protRW, anonPriv, neg(-1), 0)
	require.Less(t, a, uint64(mm.UserHigh))
	for k := uint64(0); k < pages; k += 2 {
		u.touch(a+k*pageSize, 1)
	}
	follow := func(nr uint64, args ...uint64) int {
		t.Helper()
		tf.PC = userPC
		svc(tf, nr, args...)
		restarts := 0
		for tf.PC == userPC-4 {
			restarts++
			require.Less(t, restarts, pages)
			retry(t, tf)
		}
		require.Equal(t, uint64(userPC), tf.PC)
		require.Zero(t, tf.X[0])
		return restarts
	}
	require.Positive(t, follow(sysMprotect, a, pages*pageSize, uint64(mm.ProtRead)))
	for k := uint64(0); k < pages; k += 2 {
		_, attr, ok := pr(u.p).as.PT.Lookup(a + k*pageSize)
		require.True(t, ok)
		require.NotZero(t, attr&mm.AttrAPRO, "page %d read-only", k)
	}
	vec := u.scratch
	require.Positive(t, follow(sysMincore, a, pages*pageSize, vec))
	got := u.get(vec, pages)
	for k := range got {
		require.Equal(t, byte(1-k%2), got[k], "page %d", k)
	}
}
