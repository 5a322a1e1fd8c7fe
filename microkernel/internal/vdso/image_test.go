package vdso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestImageUpToDate(t *testing.T) {
	require.True(t, bytes.Equal(Build(), Image),
		"vdso.so is stale: run go generate ./microkernel/internal/vdso")
	require.LessOrEqual(t, len(Image), PageSize)
}

// The ELF hashes the Go runtime keys its lookup on
// (runtime/vdso_linux_arm64.go) and Linux's arm64 vDSO names.
func TestELFHash(t *testing.T) {
	require.EqualValues(t, 0x75fcb89, elfHash("LINUX_2.6.39"))
	require.EqualValues(t, 0xb0cd725, elfHash("__kernel_clock_gettime"))
	require.EqualValues(t, 0x9800c0d, elfHash("__kernel_getrandom"))
	require.EqualValues(t, 0, elfHash(""))
}

func openImage(t *testing.T) *elf.File {
	f, err := elf.NewFile(bytes.NewReader(Image))
	require.NoError(t, err)
	return f
}

var wantSyms = []string{"__kernel_clock_gettime", "__kernel_gettimeofday", "__kernel_clock_getres"}

func TestImageELF(t *testing.T) {
	f := openImage(t)
	require.Equal(t, elf.ELFCLASS64, f.Class)
	require.Equal(t, elf.ELFDATA2LSB, f.Data)
	require.Equal(t, elf.ET_DYN, f.Type)
	require.Equal(t, elf.EM_AARCH64, f.Machine)

	// One PT_LOAD covering the whole file from offset 0 at vaddr 0, R+X, and
	// a PT_DYNAMIC inside it.
	require.Len(t, f.Progs, 2)
	load, dyn := f.Progs[0], f.Progs[1]
	require.Equal(t, elf.PT_LOAD, load.Type)
	require.Equal(t, elf.PF_R|elf.PF_X, load.Flags)
	require.Zero(t, load.Off)
	require.Zero(t, load.Vaddr)
	require.EqualValues(t, len(Image), load.Filesz)
	require.EqualValues(t, len(Image), load.Memsz)
	require.Equal(t, elf.PT_DYNAMIC, dyn.Type)
	require.Equal(t, dyn.Off, dyn.Vaddr)
	require.LessOrEqual(t, dyn.Off+dyn.Filesz, load.Filesz)

	soname, err := f.DynString(elf.DT_SONAME)
	require.NoError(t, err)
	require.Equal(t, []string{"linux-vdso.so.1"}, soname)
	for _, tag := range []elf.DynTag{elf.DT_HASH, elf.DT_STRTAB, elf.DT_SYMTAB, elf.DT_VERSYM, elf.DT_VERDEF} {
		v, err := f.DynValue(tag)
		require.NoError(t, err)
		require.Len(t, v, 1, "%v", tag)
		require.Less(t, v[0], uint64(len(Image)), "%v", tag)
	}

	vers, err := f.DynamicVersions()
	require.NoError(t, err)
	require.Equal(t, []elf.DynamicVersion{
		{Name: "linux-vdso.so.1", Index: 1, Flags: elf.VER_FLG_BASE},
		{Name: "LINUX_2.6.39", Index: 2},
	}, vers)

	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	text := f.Section(".text")
	require.NotNil(t, text)
	require.Equal(t, elf.SHF_ALLOC|elf.SHF_EXECINSTR, text.Flags)
	var names []string
	for _, s := range syms {
		names = append(names, s.Name)
		require.Equal(t, elf.STT_FUNC, elf.ST_TYPE(s.Info), s.Name)
		require.Equal(t, elf.STB_GLOBAL, elf.ST_BIND(s.Info), s.Name)
		require.Equal(t, elf.STV_DEFAULT, elf.ST_VISIBILITY(s.Other), s.Name)
		require.True(t, s.HasVersion, s.Name)
		require.Equal(t, "LINUX_2.6.39", s.Version, s.Name)
		require.EqualValues(t, 2, s.VersionIndex.Index(), s.Name)
		require.False(t, s.VersionIndex.IsHidden(), s.Name)
		require.Equal(t, elf.SectionIndex(7), s.Section, s.Name)
		require.Equal(t, ".text", f.Sections[s.Section].Name)
		require.GreaterOrEqual(t, s.Value, text.Addr, s.Name)
		require.LessOrEqual(t, s.Value+s.Size, text.Addr+text.Size, s.Name)
		require.Zero(t, s.Value%4, s.Name)
	}
	require.Equal(t, wantSyms, names)
}

// TestImageHashTable walks the SysV hash table as the gABI specifies (and
// C libraries do): each symbol is on its bucket's chain.
func TestImageHashTable(t *testing.T) {
	f := openImage(t)
	h, err := f.DynValue(elf.DT_HASH)
	require.NoError(t, err)
	le := binary.LittleEndian
	word := func(i uint32) uint32 { return le.Uint32(Image[h[0]+4*uint64(i):]) }
	nbucket, nchain := word(0), word(1)
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	require.EqualValues(t, len(syms)+1, nchain)
	for i, s := range syms {
		found := false
		for j := word(2 + elfHash(s.Name)%nbucket); j != 0; j = word(2 + nbucket + j) {
			if j == uint32(i+1) {
				found = true
				break
			}
		}
		require.True(t, found, s.Name)
	}
}

// TestImageDisassembles runs aarch64-linux-gnu-objdump (when installed) over
// the image: every word must decode to an instruction, and the listing is
// logged for review.
func TestImageDisassembles(t *testing.T) {
	objdump, err := exec.LookPath("aarch64-linux-gnu-objdump")
	if err != nil {
		t.Skip("aarch64-linux-gnu-objdump not installed (apt-get install binutils-aarch64-linux-gnu)")
	}
	path := filepath.Join(t.TempDir(), "vdso.so")
	require.NoError(t, os.WriteFile(path, Image, 0o644))
	out, err := exec.Command(objdump, "-d", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	listing := string(out)
	require.NotContains(t, listing, "undefined")
	require.NotContains(t, listing, ".inst")
	for _, s := range wantSyms {
		require.Contains(t, listing, "<"+s+"@@LINUX_2.6.39>:")
	}
	require.Equal(t, 2, strings.Count(listing, "mrs\tx16, cntvct_el0"), "counter reads")
	require.Equal(t, 3, strings.Count(listing, "svc\t#0x0"), "system call fallbacks")
	t.Log(listing)
}
