package kbuild

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/mm"
)

// TestRelocateLinkedBinary links a small program the way the kernel is
// linked and checks Relocate's result: every segment's physical address
// and the entry are the virtual ones minus mm.LinearBase, nothing else
// changes.
func TestRelocateLinkedBinary(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644))
	out := filepath.Join(dir, "k.elf")
	cmd := exec.Command("go", "build", "-ldflags", LinkFlags[:len(LinkFlags)-len(" -E main.boot -R 0x1000")]+" -R 0x1000", "-o", out, src)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GO111MODULE=off")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	before, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, Relocate(out, mm.LinearBase))
	after, err := os.ReadFile(out)
	require.NoError(t, err)
	f0, err := elf.NewFile(bytes.NewReader(before))
	require.NoError(t, err)
	f1, err := elf.NewFile(bytes.NewReader(after))
	require.NoError(t, err)
	require.Equal(t, f0.Entry-mm.LinearBase, f1.Entry)
	loads := 0
	for i, p := range f1.Progs {
		require.Equal(t, f0.Progs[i].Vaddr, p.Vaddr)
		if p.Type == elf.PT_LOAD {
			loads++
			require.Equal(t, p.Vaddr-mm.LinearBase, p.Paddr)
			require.GreaterOrEqual(t, p.Paddr, uint64(0x4020_0000), "above the DTB's 2 MiB")
		}
	}
	require.Greater(t, loads, 1)
	require.Equal(t, len(before), len(after))
}

func TestRelocateRefusesBadInput(t *testing.T) {
	require.Error(t, relocate([]byte("not an elf"), mm.LinearBase))
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644))
	out := filepath.Join(dir, "low.elf")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GO111MODULE=off")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	require.ErrorContains(t, Relocate(out, mm.LinearBase), "below", "a program linked low cannot be relocated down")
}

// TestBuildTwice: building the kernel again from an unchanged tree (go
// build then finds its output up to date) gives the same relocated
// kernel, not an error: "./build.sh run" twice in a row must boot twice.
func TestBuildTwice(t *testing.T) {
	out := filepath.Join(t.TempDir(), "kernel.elf")
	require.NoError(t, Build("../../..", out))
	first, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, Build("../../..", out), "second build of the same tree")
	second, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, first, second)
	f, err := elf.NewFile(bytes.NewReader(second))
	require.NoError(t, err)
	require.Less(t, f.Entry, uint64(mm.LinearBase), "relocated once: entry at its physical address")
}
