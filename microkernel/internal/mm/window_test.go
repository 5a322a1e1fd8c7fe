package mm

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestWindowBounds(t *testing.T) {
	w, mem := hostRAM(t, 4*PageSize)
	require.Equal(t, unsafe.Pointer(&mem[0]), w.Ptr(testRAMBase, 1))
	require.Equal(t, unsafe.Pointer(&mem[4*PageSize-8]), w.Ptr(testRAMBase+4*PageSize-8, 8))
	require.Nil(t, w.Ptr(testRAMBase+4*PageSize-8, 9), "runs past the end")
	require.Nil(t, w.Ptr(testRAMBase-1, 1), "below the base")
	require.Nil(t, w.Ptr(^uint64(0), 2), "wraps")
	require.Nil(t, w.table(testRAMBase+4), "tables are 8-byte aligned")
	require.NotNil(t, w.table(testRAMBase+3*PageSize))
	require.Nil(t, w.page(testRAMBase+3*PageSize+1))
	require.True(t, w.Contains(testRAMBase, 4*PageSize))
	require.False(t, w.Contains(testRAMBase, 4*PageSize+1))

	var zero Window
	require.Nil(t, zero.Ptr(0, 0))
	_, e := NewWindow(1, ^uint64(0), unsafe.Pointer(&mem[0]))
	require.Equal(t, ErrInvalid, e, "range wraps")
	_, e = NewWindow(0, PageSize, nil)
	require.Equal(t, ErrInvalid, e, "no pointer")
}

func TestIdentityWindow(t *testing.T) {
	w, e := IdentityWindow(0x4000_0000, 512<<20)
	require.Equal(t, OK, e)
	// Only compare addresses: host memory at 0x40000000 is not ours to touch.
	require.Equal(t, uintptr(0x4000_1000), uintptr(w.Ptr(0x4000_1000, 8)))
	require.Nil(t, w.Ptr(0x3fff_f000, 8))
}

func TestErrno(t *testing.T) {
	require.NoError(t, OK.Err())
	require.ErrorIs(t, ErrNoMemory.Err(), ErrNoMemory)
	require.Equal(t, "mm: out of physical memory", ErrNoMemory.Error())
	require.Equal(t, "mm: unknown error", Errno(200).Error())
	for e := OK; e < numErrno; e++ {
		require.NotEmpty(t, e.Error(), "errno %d has text", e)
	}
}

func TestTTBRAndExecFaults(t *testing.T) {
	pt, _, _ := newTable(t, 1<<20)
	require.Equal(t, uint64(7)<<48|pt.Root(), pt.TTBR(7))

	// Exec faults check UXN for user pages, PXN for kernel pages.
	for _, kernel := range []bool{false, true} {
		as, _, _ := newSpace(t, 1<<20, kernel)
		code, _, e := as.Mmap(0, PageSize, ProtRead|ProtExec, 0, false, nil)
		require.Equal(t, OK, e)
		data, _, e := as.Mmap(0, PageSize, ProtRead|ProtWrite, 0, false, nil)
		require.Equal(t, OK, e)
		require.Equal(t, FaultMapped, as.Fault(code, AccessExec))
		require.Equal(t, FaultSpurious, as.Fault(code, AccessExec))
		require.Equal(t, FaultSegvAccErr, as.Fault(code, AccessWrite))
		require.Equal(t, FaultMapped, as.Fault(data, AccessRead))
		require.Equal(t, FaultSpurious, as.Fault(data, AccessWrite))
		require.Equal(t, FaultSegvAccErr, as.Fault(data, AccessExec))
	}
	as := new(AddressSpace)
	require.Equal(t, ErrRange, as.Init(new(PhysMem), 0, VALimit+PageSize, false))
	require.Equal(t, ErrNoMemory, as.Init(new(PhysMem), 0, VALimit, false), "no page for the root")
}
