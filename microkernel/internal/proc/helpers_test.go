package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"armos/microkernel/internal/mm"

	"github.com/stretchr/testify/require"
)

var (
	helloOnce sync.Once
	helloFile []byte
	helloErr  error
)

// helloELF returns apps/hello built as every armos program is: a static
// linux/arm64 Go binary in the toolchain's default layout.
func helloELF(t testing.TB) []byte {
	t.Helper()
	helloOnce.Do(func() { helloFile, helloErr = buildHello() })
	require.NoError(t, helloErr)
	return helloFile
}

func buildHello() ([]byte, error) {
	dir, err := os.MkdirTemp("", "armos-hello")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "armos/apps/hello")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build apps/hello: %v\n%s", err, b)
	}
	return os.ReadFile(out)
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
	require.Equal(t, mm.OK, as.Init(newPhys(t, size), mm.UserLow, mm.UserHigh, false))
	t.Cleanup(as.Destroy)
	return as
}

// directTarget is the host's Target: the loader's steps run on as, no
// lock, no page cache (every segment is copied).
type directTarget struct{ as *mm.AddressSpace }

func (d directTarget) Step(fn func(as *mm.AddressSpace) mm.Errno) error {
	if e := fn(d.as); e != mm.OK {
		return e
	}
	return nil
}

func (d directTarget) Share(va, size uint64, prot mm.Prot, off uint64) (bool, error) {
	return false, nil
}

// direct returns the target for as.
func direct(as *mm.AddressSpace) Target { return directTarget{as} }

// fileSource reads f.
func fileSource(f []byte) Source {
	return func(off uint64, dst []byte) error {
		copy(dst, f[off:])
		return nil
	}
}
