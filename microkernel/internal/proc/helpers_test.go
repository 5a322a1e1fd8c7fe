package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"unsafe"

	"armos/microkernel/internal/mm"

	"github.com/stretchr/testify/require"
)

// helloELF returns the embedded hello binary (the real program the kernel
// runs), checked to be what apps/hello builds to today.
func helloELF(t testing.TB) []byte {
	t.Helper()
	require.NotEmpty(t, HelloELF, "userbin/hello.elf missing: run go generate ./microkernel/internal/proc")
	return HelloELF
}

// buildHello builds apps/hello exactly as go:generate does and returns it.
func buildHello(t testing.TB) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -T 0x100001000 -R 0x1000", "-o", out, "armos/apps/hello")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	f, err := os.ReadFile(out)
	require.NoError(t, err)
	return f
}

// newPhys returns a page allocator over size bytes of host RAM.
func newPhys(t testing.TB, size uint64) *mm.PhysMem {
	t.Helper()
	mem := make([]byte, size)
	w, e := mm.NewWindow(0x40000000, size, unsafe.Pointer(&mem[0]))
	require.Equal(t, mm.OK, e)
	pm := new(mm.PhysMem)
	require.Equal(t, mm.OK, pm.Init(w, nil))
	return pm
}

// userSpace returns a fresh user address space over size bytes of host RAM.
func userSpace(t testing.TB, size uint64) *mm.AddressSpace {
	t.Helper()
	as := new(mm.AddressSpace)
	require.Equal(t, mm.OK, as.Init(newPhys(t, size), UserBase, UserLimit, false))
	t.Cleanup(as.Destroy)
	return as
}
