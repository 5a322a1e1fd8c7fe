package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// withZeroPage turns the zero page on for the test, with a page of p, and
// records InvalidatePage calls (the page each was for).
func withZeroPage(t *testing.T, p *PhysMem) *[]uint64 {
	t.Helper()
	zp, e := p.AllocZeroed()
	require.Equal(t, OK, e)
	var invs []uint64
	savedZ, savedInv := ZeroPage, InvalidatePage
	t.Cleanup(func() { ZeroPage, InvalidatePage = savedZ, savedInv })
	ZeroPage = zp
	InvalidatePage = func(as *AddressSpace, va uint64) {
		// Break before make: the old descriptor is gone when the TLB is
		// told to forget it.
		_, _, mapped := as.PT.Lookup(va)
		require.False(t, mapped, "invalidated while still mapped")
		invs = append(invs, va)
	}
	return &invs
}

// TestZeroPageReadThenWrite: a read fault maps the shared zero page (no
// page of the space's own); the first write, by the process or by the
// kernel on its behalf, replaces it with an owned zeroed page, break
// before make; the zero page stays all zeros.
func TestZeroPageReadThenWrite(t *testing.T) {
	as, p, _ := newSpace(t, 1<<20, false)
	invs := withZeroPage(t, p)
	addr, _, _ := as.Mmap(0, 4*PageSize, ProtRead|ProtWrite, 0, false, nil)
	owned := as.OwnedPages()

	require.Equal(t, FaultMapped, as.Fault(addr, AccessRead))
	pa, attr, ok := as.PT.Lookup(addr)
	require.True(t, ok)
	require.Equal(t, ZeroPage, pa)
	require.Zero(t, attr&AttrSWOwned)
	require.NotZero(t, attr&AttrAPRO, "read-only: a write must fault")
	tables := as.OwnedPages() - owned
	require.Equal(t, uint64(1), as.Stats().ZeroMaps)
	require.Equal(t, FaultSpurious, as.Fault(addr, AccessRead), "reads keep it")

	// The process writes.
	require.Equal(t, FaultMapped, as.Fault(addr+8, AccessWrite))
	pa, attr, _ = as.PT.Lookup(addr)
	require.NotEqual(t, ZeroPage, pa)
	require.NotZero(t, attr&AttrSWOwned)
	require.Zero(t, attr&AttrAPRO)
	require.Equal(t, []uint64{addr}, *invs)
	require.Equal(t, owned+tables+1, as.OwnedPages())

	// The kernel writes into a page the process only read: CopyOut copies.
	require.Equal(t, FaultMapped, as.Fault(addr+PageSize, AccessRead))
	_, e := as.CopyOut(addr+PageSize+10, []byte("hello"))
	require.Equal(t, OK, e)
	got := make([]byte, 5)
	_, e = as.CopyIn(got, addr+PageSize+10)
	require.Equal(t, OK, e)
	require.Equal(t, "hello", string(got))
	require.Equal(t, []uint64{addr, addr + PageSize}, *invs)
	require.Equal(t, uint64(2), as.Stats().ZeroCopies)

	zero := p.win.page(ZeroPage)
	require.Equal(t, [PageSize]byte{}, *zero, "the zero page is untouched")

	// Unmapping drops the zero page's mapping without freeing it.
	require.Equal(t, FaultMapped, as.Fault(addr+2*PageSize, AccessRead))
	_, e = as.Munmap(addr, 4*PageSize, nil)
	require.Equal(t, OK, e)
	require.False(t, p.IsFree(ZeroPage))
}

// TestZeroPageStaysReadOnly: mprotect to writable keeps a zero page
// mapping read-only (the write then copies); a write-only region maps it
// readable; the loader's fill never writes into it.
func TestZeroPageStaysReadOnly(t *testing.T) {
	as, p, _ := newSpace(t, 1<<20, false)
	withZeroPage(t, p)
	addr, _, _ := as.Mmap(0, 2*PageSize, ProtRead, 0, false, nil)
	require.Equal(t, FaultMapped, as.Fault(addr, AccessRead))
	_, e := as.Mprotect(addr, 2*PageSize, ProtRead|ProtWrite, nil)
	require.Equal(t, OK, e)
	_, attr, _ := as.PT.Lookup(addr)
	require.NotZero(t, attr&AttrAPRO, "still read-only after mprotect")
	require.Equal(t, FaultMapped, as.Fault(addr, AccessWrite))

	// The loader filling a read-only page the process has read.
	ro, _, _ := as.Mmap(0, PageSize, ProtRead|ProtExec, 0, false, nil)
	require.Equal(t, FaultMapped, as.Fault(ro, AccessRead))
	_, e = as.Load(ro, []byte{1, 2, 3})
	require.Equal(t, OK, e)
	pa, attr, _ := as.PT.Lookup(ro)
	require.NotEqual(t, ZeroPage, pa)
	require.NotZero(t, attr&AttrAPRO, "the region's protection: read-only")
	require.Equal(t, [PageSize]byte{}, *p.win.page(ZeroPage))

	wo, _, _ := as.Mmap(0, PageSize, ProtWrite, 0, false, nil)
	require.Equal(t, FaultMapped, as.Fault(wo, AccessRead))
	require.Equal(t, FaultSpurious, as.Fault(wo, AccessRead), "readable: no fault loop")

	// Kernel spaces never use it.
	kas, kp, _ := newSpace(t, 1<<20, true)
	ZeroPage, _ = kp.AllocZeroed()
	ka, _, _ := kas.Mmap(0, PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(t, FaultMapped, kas.Fault(ka, AccessRead))
	pa, _, _ = kas.PT.Lookup(ka)
	require.NotEqual(t, ZeroPage, pa)
}
