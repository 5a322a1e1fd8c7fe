// Package libdev is what a driver process uses to reach the device armos
// granted it (docs/devices.md): the device's description, its registers
// (mapped, or read and written through the kernel), and its interrupt as a
// waitable object. DMA memory is shared memory (libipc.KShmCreate with
// abi.ShmContiguous where a device needs consecutive pages, KShmInfo for
// the addresses).
//
// The calls are armos's own: elsewhere they fail (ENOSYS on Linux).
package libdev

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"armos/abi"
)

// armos system calls of device grants (microkernel/internal/rt/devices.go).
const (
	sysDevInfo  = 501
	sysDevMap   = 502
	sysDevRead  = 503
	sysDevWrite = 504
)

// Info describes a granted device.
type Info struct {
	Base, Size uint64 // its registers' physical address and size
	IRQ, Kind  uint32 // its interrupt (GIC INTID) and virtio device kind
}

// Device is one device this process holds, by grant number.
type Device struct {
	grant uintptr
	info  Info
}

// Grant returns the device of grant number n (0 is the first device
// granted, e.g. by grant:net on the kernel command line).
func Grant(n int) (*Device, error) {
	if n < 0 {
		return nil, fmt.Errorf("libdev: grant %d: %w", n, syscall.EBADF)
	}
	d := &Device{grant: uintptr(n)}
	var raw [24]byte
	if _, _, e := syscall.RawSyscall(sysDevInfo, d.grant, uintptr(unsafe.Pointer(&raw[0])), 0); e != 0 {
		return nil, fmt.Errorf("libdev: grant %d: %w", n, e)
	}
	le := binary.LittleEndian
	d.info = Info{Base: le.Uint64(raw[0:]), Size: le.Uint64(raw[8:]), IRQ: le.Uint32(raw[16:]), Kind: le.Uint32(raw[20:])}
	return d, nil
}

// Info describes the device.
func (d *Device) Info() Info { return d.info }

// GrantNumber is the device's grant number in this process.
func (d *Device) GrantNumber() int { return int(d.grant) }

// Read32 reads the 32-bit register at off through the kernel.
func (d *Device) Read32(off uintptr) (uint32, error) {
	v, _, e := syscall.RawSyscall6(sysDevRead, d.grant, off, 4, 0, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("libdev: read register %#x: %w", off, e)
	}
	return uint32(v), nil
}

// Write32 writes the 32-bit register at off through the kernel.
func (d *Device) Write32(off uintptr, v uint32) error {
	if _, _, e := syscall.RawSyscall6(sysDevWrite, d.grant, off, 4, uintptr(v), 0, 0); e != 0 {
		return fmt.Errorf("libdev: write register %#x: %w", off, e)
	}
	return nil
}

// Map maps the device's registers into the process and returns their
// address; EACCES when another process's device shares the page (then use
// Read32 and Write32).
func (d *Device) Map() (uintptr, error) {
	va, _, e := syscall.RawSyscall(sysDevMap, d.grant, 0, 0)
	if e != 0 {
		return 0, fmt.Errorf("libdev: map registers: %w", e)
	}
	return va, nil
}

// IRQ is a device's interrupt as a descriptor: Wait blocks until the
// device interrupted (the kernel masked the line), Ack unmasks it. The
// descriptor is non-blocking and waits in Go's network poller, beside the
// driver's IPC channels: no thread blocks in a system call for it. Its
// reads and writes are made as the runtime makes its own non-blocking
// calls (RawSyscall): through os.File they would enter the runtime's
// syscall state, which wakes an idle process's sysmon at every interrupt.
type IRQ struct {
	f  *os.File
	rc syscall.RawConn
}

// IRQ opens the device's interrupt object (once per device).
func (d *Device) IRQ() (*IRQ, error) {
	fd, _, e := syscall.RawSyscall(abi.SysDevIRQ, d.grant, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if e != 0 {
		return nil, fmt.Errorf("libdev: interrupt: %w", e)
	}
	f := os.NewFile(fd, "irq")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("libdev: interrupt: %w", err)
	}
	return &IRQ{f: f, rc: rc}, nil
}

// rawIO makes one non-blocking read or write (trap) of b on the
// interrupt's descriptor, waiting in the poller while it says EAGAIN.
func (q *IRQ) rawIO(wait func(func(uintptr) bool) error, trap uintptr, b *[8]byte) error {
	var n uintptr
	var e syscall.Errno
	if err := wait(func(fd uintptr) bool {
		n, _, e = syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		return e != syscall.EAGAIN
	}); err != nil {
		return err
	}
	if e != 0 {
		return e
	}
	if n != uintptr(len(b)) {
		return fmt.Errorf("%d bytes, want %d", n, len(b))
	}
	return nil
}

// Wait blocks until the device has interrupted and returns how many
// interrupts came since the last Wait.
func (q *IRQ) Wait() (uint64, error) {
	var b [8]byte
	if err := q.rawIO(q.rc.Read, syscall.SYS_READ, &b); err != nil {
		return 0, fmt.Errorf("libdev: wait for the interrupt: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// Ack unmasks the interrupt (after the device was handled).
func (q *IRQ) Ack() error {
	var b [8]byte
	if err := q.rawIO(q.rc.Write, syscall.SYS_WRITE, &b); err != nil {
		return fmt.Errorf("libdev: acknowledge the interrupt: %w", err)
	}
	return nil
}

// Close closes the interrupt object (masking the interrupt).
func (q *IRQ) Close() error { return q.f.Close() }
