package proc

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseHello(t *testing.T) {
	img, err := ParseELF(helloELF(t))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(img.Segments), 2)
	// apps/hello in the Go linker's default layout: text (R+X) at
	// 0x10000 holding the headers, data RW with .bss past the file bytes.
	text := img.Segments[0]
	assert.Equal(t, uint64(0x1_0000), text.Vaddr)
	assert.Equal(t, uint8(1|4), text.Prot)
	assert.Equal(t, uint64(0x1_0040), img.PhdrAddr)
	assert.True(t, img.executable(img.Entry))
	last := img.Segments[len(img.Segments)-1]
	assert.Equal(t, uint8(1|2), last.Prot)
	assert.Greater(t, last.Memsz, last.Filesz)
	for i := 1; i < len(img.Segments); i++ {
		assert.GreaterOrEqual(t, img.Segments[i].Vaddr, img.Segments[i-1].Vaddr+img.Segments[i-1].Memsz)
	}
}

// patch returns a copy of f with a little-endian value of width n at off.
func patch(f []byte, off int, n int, v uint64) []byte {
	g := append([]byte(nil), f...)
	switch n {
	case 2:
		binary.LittleEndian.PutUint16(g[off:], uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(g[off:], uint32(v))
	default:
		binary.LittleEndian.PutUint64(g[off:], v)
	}
	return g
}

func TestParseRejects(t *testing.T) {
	f := helloELF(t)
	ph := int(binary.LittleEndian.Uint64(f[32:]))
	// index of the first PT_LOAD header
	load := ph
	for binary.LittleEndian.Uint32(f[load:]) != ptLoad {
		load += phdrSize
	}
	cases := map[string]struct {
		f    []byte
		want error
	}{
		"empty":           {nil, ErrNotELF},
		"not elf":         {[]byte("#!/bin/sh\necho hi\n" + string(make([]byte, 64))), ErrNotELF},
		"32-bit":          {patch(f, 4, 2, 1|1<<8), ErrNotELF},
		"x86-64":          {patch(f, 18, 2, 62), ErrNotARM64},
		"shared object":   {patch(f, 16, 2, 3), ErrNotARM64},
		"interp":          {patch(f, load, 4, 3), ErrNotARM64},
		"phentsize":       {patch(f, 54, 2, 32), ErrBadELF},
		"too many phdrs":  {patch(f, 56, 2, MaxSegments+1), ErrBadELF},
		"phoff past end":  {patch(f, 32, 8, uint64(len(f))), ErrBadELF},
		"filesz>memsz":    {patch(f, load+40, 8, 1), ErrBadELF},
		"offset past end": {patch(f, load+8, 8, 1<<62), ErrBadELF},
		"kernel address":  {patch(f, load+16, 8, 1<<47), ErrBadELF},
		"null page":       {patch(f, load+16, 8, 0), ErrBadELF},
		"wrapping size":   {patch(f, load+40, 8, ^uint64(0)), ErrBadELF},
		"entry outside":   {patch(f, 24, 8, 0x10), ErrBadELF},
		"not congruent":   {patch(f, load+16, 8, 0x1_0000_0008), ErrBadELF},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseELF(c.f)
			require.ErrorIs(t, err, c.want)
		})
	}
}

// tinyELF builds a minimal valid executable: one R+X segment at 4 GiB
// holding the headers and a few instructions, plus a RW .bss-only segment.
func tinyELF() []byte {
	le := binary.LittleEndian
	f := make([]byte, 64+2*phdrSize+16)
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], etExec)
	le.PutUint16(f[18:], emAArch64)
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[24:], UserBase+uint64(64+2*phdrSize)) // entry: after the headers
	le.PutUint64(f[32:], 64)
	le.PutUint16(f[52:], 64)
	le.PutUint16(f[54:], phdrSize)
	le.PutUint16(f[56:], 2)
	text := f[64:]
	le.PutUint32(text, ptLoad)
	le.PutUint32(text[4:], pfR|pfX)
	le.PutUint64(text[16:], UserBase)
	le.PutUint64(text[32:], uint64(len(f)))
	le.PutUint64(text[40:], uint64(len(f)))
	bss := f[64+phdrSize:]
	le.PutUint32(bss, ptLoad)
	le.PutUint32(bss[4:], pfR|pfW)
	le.PutUint64(bss[16:], UserBase+PageSize)
	le.PutUint64(bss[40:], 3*PageSize)
	return f
}

func TestParseTiny(t *testing.T) {
	img, err := ParseELF(tinyELF())
	require.NoError(t, err)
	require.Len(t, img.Segments, 2)
	assert.Equal(t, Segment{Vaddr: UserBase + PageSize, Memsz: 3 * PageSize, Prot: 1 | 2}, img.Segments[1])
	assert.Equal(t, uint64(UserBase+64), img.PhdrAddr)
	// The same with overlapping segments is refused.
	_, err = ParseELF(patch(tinyELF(), 64+phdrSize+16, 8, UserBase))
	require.ErrorIs(t, err, ErrBadELF)
}

func FuzzParseELF(f *testing.F) {
	hello := helloELF(f)
	f.Add(tinyELF())
	f.Add(hello[:4096]) // headers only: segments point past the end
	f.Add(patch(hello[:4096], 32, 8, 64))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := ParseELF(b)
		if err != nil {
			require.Nil(t, img)
			return
		}
		// Invariants of an accepted image: segments in the file and in
		// user space, ordered and page-disjoint, entry executable.
		require.True(t, img.executable(img.Entry))
		var prevEnd uint64
		for _, s := range img.Segments {
			require.LessOrEqual(t, s.Off+s.Filesz, uint64(len(b)))
			require.LessOrEqual(t, s.Filesz, s.Memsz)
			require.GreaterOrEqual(t, s.Vaddr, uint64(UserBase))
			require.LessOrEqual(t, s.Vaddr+s.Memsz, uint64(UserLimit))
			require.GreaterOrEqual(t, pageDown(s.Vaddr), prevEnd)
			prevEnd = pageUp(s.Vaddr + s.Memsz)
		}
	})
}
