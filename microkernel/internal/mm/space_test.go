package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	userLo = 0x1_0000
	userHi = 1 << 47
)

func newSpace(t testing.TB, ram uint64, kernel bool) (*AddressSpace, *PhysMem, []byte) {
	t.Helper()
	p, mem := newPhys(t, ram)
	as := new(AddressSpace)
	require.Equal(t, OK, as.Init(p, userLo, userHi, kernel))
	return as, p, mem
}

func TestDemandZeroFault(t *testing.T) {
	as, p, mem := newSpace(t, 4<<20, false)
	base := p.Stats().Used
	// The Go runtime's pattern: a large PROT_NONE reservation at a hint...
	const hint = 0xc000000000
	addr, n, e := as.Mmap(hint, 64<<20, ProtNone, 0, false, nil)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(hint), addr)
	require.Zero(t, n)
	require.Equal(t, FaultSegvAccErr, as.Fault(addr, AccessRead), "PROT_NONE faults are SIGSEGV")

	// ...then a MAP_FIXED RW commit of its first 4 MiB.
	_, _, e = as.Mmap(addr, 4<<20, ProtRead|ProtWrite, 0, true, nil)
	require.Equal(t, OK, e)
	require.Equal(t, base, p.Stats().Used, "mmap allocates nothing")

	require.Equal(t, FaultMapped, as.Fault(addr+0x1234, AccessWrite))
	pa, attr, ok := as.PT.Lookup(addr + 0x1234)
	require.True(t, ok)
	require.Equal(t, UserRW|AttrSWOwned, attr)
	off := (pa &^ pageMask) - testRAMBase
	require.Equal(t, make([]byte, PageSize), mem[off:off+PageSize], "the page is zeroed")
	mem[off+0x234] = 0x5a // the process writes

	require.Equal(t, FaultSpurious, as.Fault(addr+0x1008, AccessRead), "already mapped")
	require.Equal(t, FaultSegvAccErr, as.Fault(addr+0x1008, AccessExec))
	require.Equal(t, FaultSegvMapErr, as.Fault(0x1000, AccessRead))
	require.Equal(t, FaultSegvMapErr, as.Fault(^uint64(0), AccessRead))

	// madvise(DONTNEED): the page goes back to the allocator, the next touch sees zeroes.
	n, e = as.MadviseDontneed(addr, 4<<20, nil)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(1), n)
	require.Equal(t, base, p.Stats().Used, "page and its now-empty tables freed")
	require.Equal(t, FaultMapped, as.Fault(addr+0x1234, AccessRead))
	pa2, _, _ := as.PT.Lookup(addr + 0x1234)
	off2 := (pa2 &^ pageMask) - testRAMBase
	require.Equal(t, byte(0), mem[off2+0x234], "DONTNEED pages come back zeroed")

	st := as.Stats()
	require.Equal(t, uint64(7), st.Faults)
	require.Equal(t, uint64(2), st.ZeroFills)
	require.Equal(t, uint64(1), st.Spurious)
	require.Equal(t, uint64(2), st.SegvMap)
	require.Equal(t, uint64(2), st.SegvAcc)
	require.Equal(t, uint64(1), st.Zapped)

	// munmap drops region and pages; the tables go too.
	n, e = as.Munmap(addr, 64<<20, nil)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(1), n)
	require.Zero(t, as.VMAs.Len())
	require.Equal(t, base, p.Stats().Used)
	require.Equal(t, FaultSegvMapErr, as.Fault(addr, AccessRead))
}

func TestMapFixedReplacesPages(t *testing.T) {
	as, p, _ := newSpace(t, 1<<20, false)
	addr, _, e := as.Mmap(0, 16*PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(userLo), addr, "first fit from the bottom")
	for i := uint64(0); i < 4; i++ {
		require.Equal(t, FaultMapped, as.Fault(addr+i*PageSize, AccessWrite))
	}
	used := p.Stats().Used
	_, n, e := as.Mmap(addr+2*PageSize, 4*PageSize, ProtRead, 0, true, nil)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(2), n, "pages 2 and 3 dropped")
	require.Equal(t, used-2, p.Stats().Used)
	require.Equal(t, FaultSegvAccErr, as.Fault(addr+2*PageSize, AccessWrite), "now read-only")
	require.Equal(t, FaultMapped, as.Fault(addr+2*PageSize, AccessRead))
	_, attr, _ := as.PT.Lookup(addr + 2*PageSize)
	require.Equal(t, UserRO|AttrSWOwned, attr)

	_, _, e = as.Mmap(addr+1, PageSize, ProtRead, 0, true, nil)
	require.Equal(t, ErrAlign, e)
	_, _, e = as.Mmap(0, 0, ProtRead, 0, false, nil)
	require.Equal(t, ErrInvalid, e)
	_, _, e = as.Mmap(0, ^uint64(0), ProtRead, 0, false, nil)
	require.Equal(t, ErrInvalid, e)
	_, _, e = as.Mmap(userHi, PageSize, ProtRead, 0, true, nil)
	require.Equal(t, ErrRange, e)
}

func TestMprotect(t *testing.T) {
	as, _, _ := newSpace(t, 1<<20, false)
	addr, _, _ := as.Mmap(0, 4*PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(t, FaultMapped, as.Fault(addr, AccessWrite))
	n, e := as.Mprotect(addr, 4*PageSize, ProtRead, nil)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(1), n)
	_, attr, ok := as.PT.Lookup(addr)
	require.True(t, ok)
	require.Equal(t, UserRO|AttrSWOwned, attr, "present page rewritten, still owned")
	require.Equal(t, FaultSegvAccErr, as.Fault(addr, AccessWrite))

	n, e = as.Mprotect(addr, PageSize, ProtNone, nil)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(1), n)
	_, _, ok = as.PT.Lookup(addr)
	require.True(t, ok, "PROT_NONE keeps the page (and its contents), as Linux does")
	require.Equal(t, FaultSegvAccErr, as.Fault(addr, AccessRead), "the process cannot read it")
	_, e = as.CopyIn(make([]byte, 8), addr)
	require.Equal(t, ErrAccess, e, "nor can the kernel on its behalf")
	_, e = as.Mprotect(addr, 8*PageSize, ProtRead, nil)
	require.Equal(t, ErrNoVMA, e, "range not fully covered")
}

// TestMprotectNoneKeepsContents: mprotect(PROT_NONE) then back to
// PROT_READ|PROT_WRITE gives the same bytes back (programs use PROT_NONE
// for guard pages and to catch stray accesses, not to drop data).
func TestMprotectNoneKeepsContents(t *testing.T) {
	as, _, _ := newSpace(t, 1<<20, false)
	addr, _, _ := as.Mmap(0, 2*PageSize, ProtRead|ProtWrite, 0, false, nil)
	_, e := as.CopyOut(addr+100, []byte("still here"))
	require.Equal(t, OK, e)
	owned := as.OwnedPages()
	_, e = as.Mprotect(addr, 2*PageSize, ProtNone, nil)
	require.Equal(t, OK, e)
	require.Equal(t, owned, as.OwnedPages(), "no page freed")
	_, e = as.CopyOut(addr+100, []byte("x"))
	require.Equal(t, ErrAccess, e)
	_, e = as.Mprotect(addr, 2*PageSize, ProtRead|ProtWrite, nil)
	require.Equal(t, OK, e)
	got := make([]byte, 10)
	_, e = as.CopyIn(got, addr+100)
	require.Equal(t, OK, e)
	require.Equal(t, "still here", string(got))
	_, attr, _ := as.PT.Lookup(addr)
	require.Equal(t, UserRW|AttrSWOwned, attr)
	// Munmap frees the PROT_NONE pages like any others.
	_, e = as.Mprotect(addr, 2*PageSize, ProtNone, nil)
	require.Equal(t, OK, e)
	_, e = as.Munmap(addr, 2*PageSize, nil)
	require.Equal(t, OK, e)
	require.Less(t, as.OwnedPages(), owned)
}

func TestFaultOOM(t *testing.T) {
	as, p, _ := newSpace(t, 8*PageSize, false) // 1 metadata + root + 6 pages
	addr, _, _ := as.Mmap(0, 64*PageSize, ProtRead|ProtWrite, 0, false, nil)
	got := 0
	for i := uint64(0); i < 64; i++ {
		r := as.Fault(addr+i*PageSize, AccessWrite)
		if r == FaultOOM {
			break
		}
		require.Equal(t, FaultMapped, r)
		got++
	}
	require.Equal(t, 3, got, "3 tables + 3 pages fill the 6 free pages")
	require.Equal(t, uint64(1), as.Stats().OOM)
	require.Zero(t, p.Stats().Free)
	as.Destroy()
	require.Equal(t, p.Stats().Total, p.Stats().Free, "Destroy frees pages and tables, root included")
}

func TestKernelWindowShared(t *testing.T) {
	p, _ := newPhys(t, 1<<20)
	var kern, user1, user2 AddressSpace
	// The kernel window: one level 0 slot (512 GiB) at 2^47.
	require.Equal(t, OK, kern.Init(p, 1<<47, 1<<47+Level0Size, true))
	require.Equal(t, OK, user1.Init(p, userLo, userHi, false))
	require.Equal(t, OK, user2.Init(p, userLo, userHi, false))
	require.Equal(t, OK, user1.PT.ShareFrom(&kern.PT, 1<<47, Level0Size))
	require.Equal(t, OK, user2.PT.ShareFrom(&kern.PT, 1<<47, Level0Size))

	// The kernel's heap faults in after sharing and is visible everywhere.
	heap, _, e := kern.Mmap(1<<47+64<<30, 1<<20, ProtRead|ProtWrite, 0, true, nil)
	require.Equal(t, OK, e)
	require.Equal(t, FaultMapped, kern.Fault(heap, AccessWrite))
	kpa, kattr, ok := kern.PT.Lookup(heap)
	require.True(t, ok)
	require.Equal(t, KernelRW|AttrSWOwned, kattr, "kernel pages are global and EL1-only")
	for _, u := range []*AddressSpace{&user1, &user2} {
		pa, attr, ok := u.PT.Lookup(heap)
		require.True(t, ok)
		require.Equal(t, kpa, pa)
		require.Equal(t, kattr, attr)
	}

	// A user region over the kernel window cannot be faulted in.
	require.Equal(t, OK, user2.VMAs.Init(userLo, 1<<48))
	_, _, e = user2.Mmap(1<<47+Level0Size-PageSize, PageSize, ProtRead, 0, true, nil)
	require.Equal(t, OK, e)
	require.Equal(t, FaultSegvMapErr, user2.Fault(1<<47+Level0Size-PageSize, AccessRead))
	require.Equal(t, uint64(1), user2.Stats().MapErrors)

	// User tables never write into or free the kernel's.
	require.Equal(t, ErrBorrowed, user1.PT.Map(1<<47, testRAMBase, UserRW))
	_, e = user1.PT.Unmap(heap)
	require.Equal(t, ErrBorrowed, e)
	n, e := user1.PT.UnmapRange(0, VALimit, true)
	require.Equal(t, OK, e)
	require.Zero(t, n, "borrowed window skipped")
	require.Equal(t, OK, user1.PT.Map(0x1000, testRAMBase, UserRW))
	require.Equal(t, ErrExists, user1.PT.ShareFrom(&kern.PT, 0, Level0Size), "slot in use")
	require.Equal(t, ErrAlign, user1.PT.ShareFrom(&kern.PT, 1<<30, Level0Size))
	require.Equal(t, ErrInvalid, user1.PT.ShareFrom(&user1.PT, 1<<47, Level0Size))

	// The kernel unmapping its last page in the window keeps the shared
	// level 1 table alive (pinned): user2 still translates through it.
	_, e = kern.Munmap(heap, 1<<20, nil)
	require.Equal(t, OK, e)
	require.Equal(t, uint64(2), kern.PT.Stats().Tables, "root + the pinned level 1 table")
	_, _, e = kern.Mmap(heap, 1<<20, ProtRead|ProtWrite, 0, true, nil)
	require.Equal(t, OK, e)
	_, _, ok = user2.PT.Lookup(heap)
	require.False(t, ok)
	require.Equal(t, FaultMapped, kern.Fault(heap, AccessWrite))
	kpa, _, ok = kern.PT.Lookup(heap)
	require.True(t, ok)

	used := p.Stats().Used
	user1.Destroy()
	require.Equal(t, used-4, p.Stats().Used, "root + L1 + L2 + L3 of the user page, nothing of the kernel's")
	_, _, ok = kern.PT.Lookup(heap)
	require.True(t, ok)
	pa, _, ok := user2.PT.Lookup(heap)
	require.True(t, ok)
	require.Equal(t, kpa, pa)
}

func TestAttrFor(t *testing.T) {
	require.Equal(t, UserRW, AttrFor(ProtRead|ProtWrite, false))
	require.Equal(t, UserRO, AttrFor(ProtRead, false))
	require.Equal(t, UserRX, AttrFor(ProtRead|ProtExec, false))
	require.Equal(t, KernelRW, AttrFor(ProtRead|ProtWrite, true))
	require.Equal(t, KernelRO, AttrFor(ProtRead, true))
	require.Equal(t, KernelRX, AttrFor(ProtRead|ProtExec, true))
	require.Equal(t, KernelRWX, AttrFor(ProtRead|ProtWrite|ProtExec, true))
}

func TestFaultPathZeroAllocs(t *testing.T) {
	as, _, _ := newSpace(t, 1<<20, false)
	addr, _, _ := as.Mmap(0, 16*PageSize, ProtRead|ProtWrite, 0, false, nil)
	allocs := testing.AllocsPerRun(50, func() {
		_ = as.Fault(addr, AccessWrite)
		_, _ = as.MadviseDontneed(addr, 16*PageSize, nil)
		a, _, _ := as.Mmap(0, PageSize, ProtRead, 0, false, nil)
		_, _ = as.Munmap(a, PageSize, nil)
	})
	require.Zero(t, allocs)
}

func BenchmarkFaultZeroFill(b *testing.B) {
	as, _, _ := newSpace(b, 8<<20, false)
	addr, _, _ := as.Mmap(0, 64*PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(b, FaultMapped, as.Fault(addr+PageSize, AccessWrite)) // keep tables alive
	b.ReportAllocs()
	for b.Loop() {
		_ = as.Fault(addr, AccessWrite)
		_, _ = as.MadviseDontneed(addr, PageSize, nil)
	}
}

func BenchmarkVMAFind(b *testing.B) {
	vt := new(VMATable)
	require.Equal(b, OK, vt.Init(0, 1<<40))
	for i := uint64(0); i < 200; i++ { // 200 regions: a busy process
		require.Equal(b, OK, vt.Set(i*2*PageSize, PageSize, ProtRead, 0))
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = vt.Find(301 * PageSize)
	}
}
