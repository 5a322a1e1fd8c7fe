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

func (d directTarget) MapFile(va, size, filesz uint64, prot mm.Prot, off uint64, private bool) (bool, error) {
	return false, nil
}

// cacheTarget is a Target with a page cache, as the kernel's: MapFile
// makes file-backed regions (mm.RegionShared/RegionPrivate) whose pages
// come from a copy of the file in pages of the space's allocator, made
// on first use (mm.Backing is set for the test).
type cacheTarget struct {
	directTarget
	phys  *mm.PhysMem
	file  []byte
	pages map[uint64]uint64 // file page -> physical page
	maps  []cacheMap
	reads int // file pages copied into the cache
}

type cacheMap struct {
	delta   int64
	limit   uint64
	private bool
}

// withCache returns a cacheTarget loading file into a fresh address space
// over size bytes.
func withCache(t *testing.T, size uint64, file []byte) (*cacheTarget, *mm.AddressSpace) {
	t.Helper()
	phys := newPhys(t, size)
	as := new(mm.AddressSpace)
	require.Equal(t, mm.OK, as.Init(phys, mm.UserLow, mm.UserHigh, false))
	t.Cleanup(as.Destroy)
	c := &cacheTarget{directTarget: directTarget{as}, phys: phys, file: file, pages: map[uint64]uint64{}}
	saved := mm.Backing
	t.Cleanup(func() { mm.Backing = saved })
	mm.Backing = c.backing
	return c, as
}

func (c *cacheTarget) MapFile(va, size, filesz uint64, prot mm.Prot, off uint64, private bool) (bool, error) {
	if va%PageSize != off%PageSize || !private && prot&mm.ProtWrite != 0 {
		return false, nil
	}
	flag := uint8(mm.RegionShared)
	if private {
		flag = mm.RegionPrivate
	}
	c.maps = append(c.maps, cacheMap{delta: int64(off/PageSize) - int64(va/PageSize), limit: va + filesz, private: private})
	lo, hi := pageDown(va), pageUp(va+size)
	if e := c.as.VMAs.Set(lo, hi-lo, prot, flag|uint8(len(c.maps))); e != mm.OK {
		return false, e
	}
	return true, nil
}

func (c *cacheTarget) backing(as *mm.AddressSpace, r mm.VMA, va uint64) (uint64, uint64, bool) {
	m := c.maps[int(r.Flags&mm.RegionKeyMask)-1]
	if va >= m.limit {
		return 0, 0, m.private
	}
	idx := uint64(int64(va/PageSize) + m.delta)
	pa, ok := c.pages[idx]
	if !ok {
		var e mm.Errno
		if pa, e = c.phys.AllocZeroed(); e != mm.OK {
			return 0, 0, false
		}
		copy(unsafe.Slice((*byte)(c.phys.Window().Ptr(pa, PageSize)), PageSize), c.file[min(idx*PageSize, uint64(len(c.file))):])
		c.pages[idx] = pa
		c.reads++
	}
	return pa, min(m.limit-va, PageSize), true
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
