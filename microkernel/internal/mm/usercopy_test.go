package mm

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCopyOutInAcrossPages(t *testing.T) {
	as, p, _ := newSpace(t, 1<<20, false)
	addr, _, e := as.Mmap(0, 4*PageSize, ProtRead|ProtWrite, 0, false, nil)
	require.Equal(t, OK, e)
	msg := bytes.Repeat([]byte("armos!"), 2000) // 12000 bytes from offset 100: pages 0-2
	n, e := as.CopyOut(addr+100, msg)
	require.Equal(t, OK, e)
	require.Equal(t, len(msg), n)
	require.Equal(t, uint64(3), as.Stats().ZeroFills, "pages faulted in on demand")

	got := make([]byte, len(msg)+100)
	n, e = as.CopyIn(got, addr)
	require.Equal(t, OK, e)
	require.Equal(t, len(got), n)
	require.Equal(t, make([]byte, 100), got[:100], "fresh pages read as zero")
	require.Equal(t, msg, got[100:])
	require.Equal(t, uint64(1+3+3), p.Stats().Used, "root, 3 tables, 3 data pages")

	// A short copy stops at the end of the region with EFAULT's code.
	n, e = as.CopyIn(make([]byte, 2*PageSize), addr+3*PageSize)
	require.Equal(t, ErrNoVMA, e)
	require.Equal(t, PageSize, n)
}

func TestCopyOutChecksProtection(t *testing.T) {
	as, _, _ := newSpace(t, 1<<20, false)
	ro, _, _ := as.Mmap(0, PageSize, ProtRead, 0, false, nil)
	none, _, _ := as.Mmap(0, PageSize, ProtNone, 0, false, nil)
	n, e := as.CopyOut(ro, []byte("x"))
	require.Equal(t, ErrAccess, e)
	require.Zero(t, n)
	_, e = as.CopyIn(make([]byte, 1), none)
	require.Equal(t, ErrAccess, e)
	n, e = as.CopyIn(make([]byte, 8), ro)
	require.Equal(t, OK, e)
	require.Equal(t, 8, n)
	_, e = as.CopyIn(make([]byte, 8), 0x10)
	require.Equal(t, ErrNoVMA, e)
	_, e = as.CopyIn(make([]byte, 8), ^uint64(0)-3)
	require.Equal(t, ErrNoVMA, e)

	// A kernel page visible through a user table (the shared window) is refused.
	require.Equal(t, OK, as.PT.Map(0x7000_0000, testRAMBase+8*PageSize, KernelRW))
	_, e = as.VMAs.Reserve(0x7000_0000, PageSize, ProtRead|ProtWrite, 0)
	require.Equal(t, OK, e)
	_, e = as.CopyIn(make([]byte, 8), 0x7000_0000)
	require.Equal(t, ErrAccess, e)
	// A device page outside RAM cannot be reached.
	require.Equal(t, OK, as.PT.Map(0x7000_1000, 0x0900_0000, UserRW))
	_, e = as.VMAs.Reserve(0x7000_1000, PageSize, ProtRead|ProtWrite, 0)
	require.Equal(t, OK, e)
	_, e = as.CopyOut(0x7000_1000, []byte("x"))
	require.Equal(t, ErrRange, e)
}

func TestCopyZeroAllocs(t *testing.T) {
	as, _, _ := newSpace(t, 1<<20, false)
	addr, _, _ := as.Mmap(0, 2*PageSize, ProtRead|ProtWrite, 0, false, nil)
	buf := make([]byte, 6000)
	allocs := testing.AllocsPerRun(50, func() {
		_, _ = as.CopyOut(addr+10, buf)
		_, _ = as.CopyIn(buf, addr+10)
	})
	require.Zero(t, allocs)
}

func BenchmarkCopyIn4K(b *testing.B) {
	as, _, _ := newSpace(b, 1<<20, false)
	addr, _, _ := as.Mmap(0, 2*PageSize, ProtRead|ProtWrite, 0, false, nil)
	buf := make([]byte, PageSize)
	_, _ = as.CopyOut(addr, make([]byte, 2*PageSize))
	b.SetBytes(PageSize)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = as.CopyIn(buf, addr+100)
	}
}

func TestLoadFillsReadOnlyText(t *testing.T) {
	as, _, _ := newSpace(t, 1<<20, false)
	text, _, e := as.Mmap(0x40_0000, 2*PageSize, ProtRead|ProtExec, 0, true, nil)
	require.Equal(t, OK, e)
	code := bytes.Repeat([]byte{0x1f, 0x20, 0x03, 0xd5}, 1500) // NOPs across two pages
	_, e = as.CopyOut(text, code)
	require.Equal(t, ErrAccess, e, "the process cannot write its text...")
	n, e := as.Load(text, code)
	require.Equal(t, OK, e, "...but the loader can")
	require.Equal(t, len(code), n)
	got := make([]byte, len(code))
	_, e = as.CopyIn(got, text)
	require.Equal(t, OK, e)
	require.Equal(t, code, got)
	_, attr, _ := as.PT.Lookup(text)
	require.Equal(t, UserRX|AttrSWOwned, attr, "pages keep the region's protection")

	none, _, _ := as.Mmap(0, PageSize, ProtNone, 0, false, nil)
	_, e = as.Load(none, code[:4])
	require.Equal(t, ErrAccess, e)
}
