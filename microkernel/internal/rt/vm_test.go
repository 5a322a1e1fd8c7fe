package rt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDemandZeroReserveFaultRelease(t *testing.T) {
	resetKernel(t, 64)
	base := p0() // 1 GiB aligned, inside the mmap window
	before := physPages.Stats().Used
	require.True(t, kas.Reserve(base, 1<<30))
	require.LessOrEqual(t, physPages.Stats().Used-before, uint64(1), "reserving a whole GiB costs at most one table")
	require.False(t, kas.Free(base, pageSize))
	require.True(t, kas.Free(base+1<<30, pageSize))

	va := base + 5*pageSize + 123
	require.Zero(t, kas.Lookup(va))
	require.True(t, kas.Fault(va))
	pa := kas.Lookup(va)
	require.NotZero(t, pa)
	require.EqualValues(t, 123, pa&(pageSize-1))
	require.EqualValues(t, 1, kas.mapped)
	*word(pa &^ 7) = 42

	// DONTNEED frees the page; the range stays reserved and faults in zero.
	before = physPages.Stats().Used
	require.True(t, kas.Release(base, 16*pageSize, true))
	require.Equal(t, before-1, physPages.Stats().Used)
	require.Zero(t, kas.Lookup(va))
	require.True(t, kas.Fault(va))
	require.Zero(t, *word(kas.Lookup(va) &^ 7))

	// munmap of part of the reserved GiB splits it: outside stays reserved.
	require.True(t, kas.Release(base, 1<<21, false))
	require.False(t, kas.Fault(va), "unmapped address must not fault in")
	require.True(t, kas.Fault(base+1<<21))
	require.True(t, kas.Free(base, 1<<21))
}

func TestFaultOutsideMappingsFails(t *testing.T) {
	resetKernel(t, 16)
	require.False(t, kas.Fault(p0()))
	require.EqualValues(t, 1, physPages.Stats().Used, "only the root table is allocated")
}

func TestPlaceHonoursFreeHintsOnly(t *testing.T) {
	resetKernel(t, 64)
	hint := p0()
	require.Equal(t, hint, kas.Place(hint, 1<<20))
	require.True(t, kas.Reserve(hint, 1<<20))
	other := kas.Place(hint, 1<<20)
	require.NotEqual(t, hint, other, "an occupied hint must not be reused")
	require.True(t, inWindow(other, 1<<20))
	require.Zero(t, kas.Place(0, mmapLimit), "a request larger than the window fails")
	require.NotEqual(t, uintptr(0x1000), kas.Place(0x1000, pageSize), "hints below the window are ignored")
}

// p0 is a 1 GiB-aligned address inside the mmap window.
func p0() uintptr { return 0x0000_4000_0000_0000 }

func TestFaultReportsOutOfMemory(t *testing.T) {
	resetKernel(t, 8)
	base := p0()
	require.True(t, kas.Reserve(base, 1<<30))
	faulted := 0
	for va := base; kas.Fault(va); va += pageSize {
		faulted++
	}
	require.True(t, kas.outOfMemory, "the failing fault must say it ran out of memory")
	require.Positive(t, faulted)
	require.False(t, kas.Fault(base+1<<30))
	require.False(t, kas.outOfMemory, "an unmapped address is not an out-of-memory fault")
}

func TestAddressesAbove48BitsNeverAliasLowOnes(t *testing.T) {
	resetKernel(t, 64)
	va := p0() + 5*pageSize
	require.True(t, kas.Reserve(p0(), 1<<30))
	high := va | 0xffff<<48 // same bits [47:0]: the walk's indices match va's
	require.False(t, kas.Fault(high), "a fault above 2^48 must become SIGSEGV, not map va's page")
	require.Zero(t, kas.mapped)
	require.True(t, kas.Fault(va))
	require.Zero(t, kas.Lookup(high), "an address above 2^48 translates to nothing")
	require.Zero(t, kas.Lookup(va|1<<48))
	require.NotZero(t, kas.Lookup(va))
}
