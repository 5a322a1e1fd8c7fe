package proc

import (
	"encoding/binary"
	"testing"

	"armos/microkernel/internal/mm"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cString reads a NUL-terminated string from the process.
func cString(t *testing.T, as *mm.AddressSpace, va uint64) string {
	var out []byte
	b := make([]byte, 1)
	for {
		_, e := as.CopyIn(b, va)
		require.Equal(t, mm.OK, e)
		if b[0] == 0 {
			return string(out)
		}
		out = append(out, b[0])
		va++
	}
}

func TestLoadHello(t *testing.T) {
	file := helloELF(t)
	t.Run("copied", func(t *testing.T) { testLoadHello(t, file, direct(userSpace(t, 16<<20))) })
	t.Run("page-cache", func(t *testing.T) {
		c, as := withCache(t, 16<<20, file)
		testLoadHello(t, file, c)
		require.Len(t, c.maps, 3, "text and read-only data shared, data private")
		// Text is shared: mapped as the cache's page itself, not owned.
		img, err := ParseELF(file)
		require.NoError(t, err)
		pa, attr, ok := as.PT.Lookup(img.Entry)
		require.True(t, ok)
		require.Zero(t, attr&mm.AttrSWOwned)
		require.Equal(t, c.pages[(img.Entry-img.Segments[0].Vaddr+img.Segments[0].Off)/PageSize], pa&^(PageSize-1))
		// Data is the process's own copy: writable, and the cache's page
		// stays as the file has it.
		for _, s := range img.Segments {
			if s.Prot&2 == 0 || s.Filesz == 0 {
				continue
			}
			_, e := as.CopyOut(s.Vaddr, []byte{0xAA})
			require.Equal(t, mm.OK, e)
			cached := c.pages[s.Off/PageSize]
			require.Equal(t, file[s.Off], *(*byte)(c.phys.Window().Ptr(cached+s.Off%PageSize, 1)))
			require.Positive(t, as.Stats().FileCopies)
		}
	})
}

// testLoadHello loads hello through target t and checks the result.
func testLoadHello(t *testing.T, file []byte, tg Target) {
	img, err := ParseELF(file)
	require.NoError(t, err)
	var as *mm.AddressSpace
	require.NoError(t, tg.Step(func(a *mm.AddressSpace) mm.Errno { as = a; return mm.OK }))
	rnd := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	entry, sp, err := Load(tg, img, fileSource(file), StackArgs{Argv: []string{"hello"}, Envp: []string{"HOME=/"}, Random: rnd})
	require.NoError(t, err)
	assert.Equal(t, img.Entry, entry)
	assert.Zero(t, sp%16)

	// Every segment reads back as the file bytes, then zeroes (.bss).
	for _, s := range img.Segments {
		got := make([]byte, s.Memsz)
		n, e := as.CopyIn(got, s.Vaddr)
		require.Equal(t, mm.OK, e)
		require.Equal(t, int(s.Memsz), n)
		require.Equal(t, file[s.Off:s.Off+s.Filesz], got[:s.Filesz])
		require.Equal(t, make([]byte, s.Memsz-s.Filesz), got[s.Filesz:])
	}
	// Text is not writable by the process.
	_, e := as.CopyOut(img.Entry, []byte{0})
	assert.NotEqual(t, mm.OK, e)

	// The initial stack: argc, argv, envp, auxv as the Go runtime reads it.
	word := func(i uint64) uint64 {
		var b [8]byte
		_, e := as.CopyIn(b[:], sp+8*i)
		require.Equal(t, mm.OK, e)
		return binary.LittleEndian.Uint64(b[:])
	}
	require.Equal(t, uint64(1), word(0))
	assert.Equal(t, "hello", cString(t, as, word(1)))
	assert.Zero(t, word(2))
	assert.Equal(t, "HOME=/", cString(t, as, word(3)))
	assert.Zero(t, word(4))
	aux := map[uint64]uint64{}
	for i := uint64(5); ; i += 2 {
		if word(i) == AtNull {
			break
		}
		aux[word(i)] = word(i + 1)
	}
	assert.Equal(t, uint64(PageSize), aux[AtPagesz])
	assert.Equal(t, img.Entry, aux[AtEntry])
	assert.Equal(t, img.PhdrAddr, aux[AtPhdr])
	assert.Equal(t, img.Phnum, aux[AtPhnum])
	var r [16]byte
	_, e = as.CopyIn(r[:], aux[AtRandom])
	require.Equal(t, mm.OK, e)
	assert.Equal(t, rnd, r)
	assert.Equal(t, "hello", cString(t, as, aux[AtExecfn]))
	// The program headers are readable where AT_PHDR says.
	ph := make([]byte, phdrSize)
	_, e = as.CopyIn(ph, aux[AtPhdr])
	require.Equal(t, mm.OK, e)
	off := binary.LittleEndian.Uint64(file[32:])
	assert.Equal(t, file[off:off+phdrSize], ph)
}

func TestBuildStackLimits(t *testing.T) {
	_, _, err := BuildStack(StackTop, StackArgs{Argv: []string{string(make([]byte, MaxStackSetup))}})
	require.ErrorIs(t, err, ErrStackTooBig)
	_, _, err = BuildStack(StackTop+8, StackArgs{})
	require.ErrorIs(t, err, ErrStackTooBig)
	b, sp, err := BuildStack(StackTop, StackArgs{})
	require.NoError(t, err)
	assert.Equal(t, uint64(StackTop), sp+uint64(len(b)))
	assert.Zero(t, binary.LittleEndian.Uint64(b)) // argc 0
}

func BenchmarkParseELF(b *testing.B) {
	f := helloELF(b)
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, err := ParseELF(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadHello measures making the hello process image: parse, map
// and fill the segments, build and write the initial stack.
func BenchmarkLoadHello(b *testing.B) {
	f := helloELF(b)
	pm := newPhys(b, 8<<20)
	var as mm.AddressSpace
	for b.Loop() {
		img, err := ParseELF(f)
		if err != nil {
			b.Fatal(err)
		}
		if e := as.Init(pm, mm.UserLow, mm.UserHigh, false); e != mm.OK {
			b.Fatal(e)
		}
		if _, _, err := Load(direct(&as), img, fileSource(f), StackArgs{Argv: []string{"hello"}}); err != nil {
			b.Fatal(err)
		}
		as.Destroy()
	}
	if pm.Stats().Used != 0 {
		b.Fatalf("%d pages leaked", pm.Stats().Used)
	}
}

// TestLoadedImageIsFreedWhole: tearing a loaded image down gives every
// page and table back, and the process cannot read the kernel half.
func TestLoadedImageIsFreedWhole(t *testing.T) {
	pm := newPhys(t, 8<<20)
	var as mm.AddressSpace
	require.Equal(t, mm.OK, as.Init(pm, mm.UserLow, mm.UserHigh, false))
	_, _, e := as.Mmap(mm.LinearBase, PageSize, mm.ProtRead, 0, true, nil)
	assert.NotEqual(t, mm.OK, e, "no region in the kernel half")
	file := helloELF(t)
	img, err := ParseELF(file)
	require.NoError(t, err)
	_, _, err = Load(direct(&as), img, fileSource(file), StackArgs{Argv: []string{"hello"}})
	require.NoError(t, err)
	as.Destroy()
	st := pm.Stats()
	assert.Zero(t, st.Used)
	assert.Zero(t, st.BadFrees)
}
