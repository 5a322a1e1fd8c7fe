package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// elfSpec describes a synthetic ELF file.
type elfSpec struct {
	class   elf.Class
	order   binary.ByteOrder
	machine elf.Machine
	typ     elf.Type
	osabi   elf.OSABI
	progs   []elf.ProgType
}

// staticARM64 is what a static linux/arm64 Go binary looks like.
func staticARM64() elfSpec {
	return elfSpec{elf.ELFCLASS64, binary.LittleEndian, elf.EM_AARCH64, elf.ET_EXEC, elf.ELFOSABI_NONE,
		[]elf.ProgType{elf.PT_PHDR, elf.PT_LOAD, elf.PT_LOAD, elf.PT_NOTE}}
}

// build writes the ELF header and program headers by hand (ELF-64 and
// ELF-32 object file formats); a PT_INTERP segment points at a loader
// path after the headers.
func (s elfSpec) build() []byte {
	const interp = "/lib/ld-linux-aarch64.so.1\x00"
	var b bytes.Buffer
	data := elf.ELFDATA2LSB
	if s.order == binary.BigEndian {
		data = elf.ELFDATA2MSB
	}
	b.Write([]byte{0x7f, 'E', 'L', 'F', byte(s.class), byte(data), 1, byte(s.osabi)})
	b.Write(make([]byte, 8))
	w := func(v any) { _ = binary.Write(&b, s.order, v) }
	if s.class == elf.ELFCLASS32 {
		w(uint16(s.typ))
		w(uint16(s.machine))
		w(uint32(1))
		w([3]uint32{0x10000, 0, 0}) // entry, phoff, shoff
		w(uint32(0))
		w([6]uint16{52, 32, 0, 40, 0, 0})
		return b.Bytes()
	}
	const ehsize, phsize = 64, 56
	w(uint16(s.typ))
	w(uint16(s.machine))
	w(uint32(1))
	w([3]uint64{0x401000, ehsize, 0}) // entry, phoff, shoff
	w(uint32(0))
	w([6]uint16{ehsize, phsize, uint16(len(s.progs)), 64, 0, 0})
	interpOff := uint64(ehsize + phsize*len(s.progs))
	for _, p := range s.progs {
		w([2]uint32{uint32(p), 4})
		if p == elf.PT_INTERP {
			w([6]uint64{interpOff, 0, 0, uint64(len(interp)), uint64(len(interp)), 1})
		} else {
			w([6]uint64{0, 0x400000, 0x400000, interpOff, interpOff, 0x10000})
		}
	}
	b.WriteString(interp)
	return b.Bytes()
}

func TestCheckStaticARM64(t *testing.T) {
	require.NoError(t, CheckStaticARM64(staticARM64().build()))
	pie := staticARM64()
	pie.typ = elf.ET_DYN
	pie.progs = append(pie.progs, elf.PT_DYNAMIC)
	require.NoError(t, CheckStaticARM64(pie.build()), "a static PIE")
	linux := staticARM64()
	linux.osabi = elf.ELFOSABI_LINUX
	require.NoError(t, CheckStaticARM64(linux.build()))

	bad := map[string]struct {
		mutate func(*elfSpec)
		want   string
	}{
		"dynamic":     {func(s *elfSpec) { s.progs = append(s.progs, elf.PT_INTERP) }, `dynamically linked (PT_INTERP "/lib/ld-linux-aarch64.so.1")`},
		"x86-64":      {func(s *elfSpec) { s.machine = elf.EM_X86_64 }, "machine EM_X86_64, want EM_AARCH64"},
		"32-bit":      {func(s *elfSpec) { s.class, s.machine = elf.ELFCLASS32, elf.EM_ARM }, "class ELFCLASS32"},
		"big-endian":  {func(s *elfSpec) { s.order = binary.BigEndian }, "ELFDATA2MSB"},
		"object file": {func(s *elfSpec) { s.typ = elf.ET_REL }, "type ET_REL"},
		"core dump":   {func(s *elfSpec) { s.typ = elf.ET_CORE }, "type ET_CORE"},
		"FreeBSD":     {func(s *elfSpec) { s.osabi = elf.ELFOSABI_FREEBSD }, "OS ABI ELFOSABI_FREEBSD"},
		"no segments": {func(s *elfSpec) { s.progs = []elf.ProgType{elf.PT_NOTE} }, "no PT_LOAD"},
	}
	for name, c := range bad {
		s := staticARM64()
		c.mutate(&s)
		err := CheckStaticARM64(s.build())
		require.Error(t, err, name)
		require.Contains(t, err.Error(), c.want, name)
	}
	require.EqualError(t, CheckStaticARM64([]byte("#!/bin/sh\necho hi\n")), "not an ELF file")
	require.EqualError(t, CheckStaticARM64(nil), "not an ELF file")
	require.ErrorContains(t, CheckStaticARM64([]byte("\x7fELF")), "malformed ELF")
	require.ErrorContains(t, CheckStaticARM64(staticARM64().build()[:70]), "malformed ELF")
}

// FuzzCheckStaticARM64: the check never panics.
func FuzzCheckStaticARM64(f *testing.F) {
	f.Add(staticARM64().build())
	s := staticARM64()
	s.progs = append(s.progs, elf.PT_INTERP)
	f.Add(s.build())
	f.Fuzz(func(t *testing.T, b []byte) { _ = CheckStaticARM64(b) })
}

// goBinary builds a tiny Go program for linux/arm64 (CGO off: static).
func goBinary(t *testing.T) []byte {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644))
	cmd := exec.Command("go", "build", "-trimpath", "-o", "hello", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err := os.ReadFile(filepath.Join(dir, "hello"))
	require.NoError(t, err)
	return b
}

func TestRealBinaries(t *testing.T) {
	require.NoError(t, CheckStaticARM64(goBinary(t)), "a Go linux/arm64 binary")
	if runtime.GOARCH != "arm64" {
		self, err := os.Executable()
		require.NoError(t, err)
		b, err := os.ReadFile(self)
		require.NoError(t, err)
		require.ErrorContains(t, CheckStaticARM64(b), "want EM_AARCH64", "this test binary")
	}
}
