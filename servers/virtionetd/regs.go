package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"armos/abi"
	"armos/libdev"
	"armos/libipc"
	"armos/servers/virtionetd/virtio"
)

// mappedRegs reaches registers mapped into this process (armos_dev_map):
// each access is one load or store; the atomic forms keep the compiler
// from merging or dropping them.
type mappedRegs struct{ base uintptr }

func (r mappedRegs) reg(off uint32) *uint32 {
	a := r.base + uintptr(off)
	return *(**uint32)(unsafe.Pointer(&a)) // device memory, not Go memory
}

func (r mappedRegs) Read32(off uint32) uint32     { return atomic.LoadUint32(r.reg(off)) }
func (r mappedRegs) Write32(off uint32, v uint32) { atomic.StoreUint32(r.reg(off), v) }

// mediatedRegs asks the kernel for each access (armos_dev_read/write), when
// the device shares its page with another process's device.
type mediatedRegs struct{ dev *libdev.Device }

// regErrors counts register accesses the kernel refused (a driver bug: the
// offsets are the spec's).
var regErrors atomic.Uint64

func (r mediatedRegs) Read32(off uint32) uint32 {
	v, err := r.dev.Read32(uintptr(off))
	if err != nil {
		if regErrors.Add(1) == 1 {
			fmt.Fprintf(os.Stderr, "virtionetd: register %#x: %v\n", off, err)
		}
		return 0
	}
	return v
}

func (r mediatedRegs) Write32(off uint32, v uint32) {
	if err := r.dev.Write32(uintptr(off), v); err != nil && regErrors.Add(1) == 1 {
		fmt.Fprintf(os.Stderr, "virtionetd: register %#x: %v\n", off, err)
	}
}

// shmMem is DMA memory: a shared-memory object mapped here, with the
// physical address of each page (armos_shm_info).
type shmMem struct {
	b     []byte
	pages []uint64
}

func (m *shmMem) Bytes() []byte     { return m.b }
func (m *shmMem) PA(off int) uint64 { return m.pages[off/pageSize] + uint64(off%pageSize) }

const pageSize = 4096

// allocDMA is the NIC's virtio.Alloc: a shared-memory object (contiguous
// when asked), mapped, its pages' addresses learnt. The descriptor is
// closed; the mapping keeps the object for the process's life.
func allocDMA(size int, contiguous bool) (virtio.Mem, error) {
	flags := syscall.O_CLOEXEC
	if contiguous {
		flags |= abi.ShmContiguous
	}
	size = (size + pageSize - 1) / pageSize * pageSize
	fd, err := libipc.KShmCreate(size, flags)
	if err != nil {
		return nil, fmt.Errorf("shared memory of %d bytes: %w", size, err)
	}
	defer syscall.Close(fd)
	b, err := syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping DMA memory: %w", err)
	}
	pages := make([]uint64, size/pageSize)
	if _, err := libipc.KShmInfo(fd, pages); err != nil {
		syscall.Munmap(b)
		return nil, fmt.Errorf("DMA addresses: %w", err)
	}
	return &shmMem{b: b, pages: pages}, nil
}
