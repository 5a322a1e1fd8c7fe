// Command devtest checks armos's device grants from the driver's side
// (docs/devices.md): it is started with devices granted to it
// (grant:KIND words on the kernel command line) and checks what it may and
// may not reach. It only runs in armos: the calls are armos's own.
//
// Usage:
//
//	devtest -kind N -map shared|exclusive   grant 0 is a virtio device of
//	                                        kind N; "shared": another
//	                                        device on its page is not ours,
//	                                        so armos_dev_map is refused;
//	                                        "exclusive": it is mapped
//	devtest -none                           no grants: every call is EBADF
//	devtest -env -kind N -map M             the device comes from init
//	                                        (device=SEL: ARMOS_DEVICES),
//	                                        attached as grant 0
//	devtest -none -child                    started by init without a
//	                                        device: it may not open one
//
// plus the check package's flags (-run, -v, -list, -timeout).
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"sync/atomic"
	"syscall"
	"unsafe"

	"armos/abi"
	"armos/libdev"
	"armos/libipc"
	"armos/microkernel/guesttest/progs/check"
)

// armos system calls (microkernel/internal/rt/devices.go).
const (
	sysDevInfo  = 501
	sysDevMap   = 502
	sysDevRead  = 503
	sysDevWrite = 504
)

// virtio-mmio registers (Virtual I/O Device spec 1.2, 4.2.2).
const (
	regMagic    = 0x000
	regVersion  = 0x004
	regDeviceID = 0x008
	regVendorID = 0x00c
	regStatus   = 0x070
	// legacy (version 1) queue and interrupt registers
	regGuestFeatures = 0x020
	regGuestPageSize = 0x028
	regQueueSel      = 0x030
	regQueueNumMax   = 0x034
	regQueueNum      = 0x038
	regQueueAlign    = 0x03c
	regQueuePFN      = 0x040
	regQueueNotify   = 0x050
	regIntStatus     = 0x060
	regIntAck        = 0x064
	virtioMagic      = 0x74726976 // "virt"
	qemuVendorID     = 0x554d4551 // "QEMU"
	slotSize         = 0x200
)

type devInfo struct {
	Base, Size uint64
	IRQ, Kind  uint32
}

var (
	kind  = flag.Uint("kind", 0, "the virtio device kind grant 0 must be")
	mode  = flag.String("map", "", "shared: armos_dev_map must be refused; exclusive: it must map")
	none  = flag.Bool("none", false, "the process holds no device")
	env   = flag.Bool("env", false, "attach the device init passed (ARMOS_DEVICES)")
	child = flag.Bool("child", false, "with -none: started by init, so armos_dev_open is refused")
)

// pointerAt turns an address the kernel returned (a mapping, not Go
// memory) into a pointer.
func pointerAt(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

func call(nr uintptr, a ...uintptr) (uintptr, syscall.Errno) {
	var args [4]uintptr
	copy(args[:], a)
	r, _, e := syscall.RawSyscall6(nr, args[0], args[1], args[2], args[3], 0, 0)
	return r, e
}

func main() {
	flag.Parse()
	if *env {
		check.Add("attach-from-init", func(t *check.T) {
			devs, err := libdev.FromEnv()
			if err != nil {
				t.Fatalf("%v", err)
			}
			if len(devs) != 1 || devs[0].GrantNumber() != 0 {
				t.Fatalf("%d devices, first grant %d: want one, grant 0", len(devs), devs[0].GrantNumber())
			}
			if _, err := libdev.Attach(4); !errors.Is(err, syscall.EBUSY) {
				t.Errorf("attaching it twice: %v, want EBUSY", err)
			}
			if _, err := libdev.Open(uint64(*kind)); !errors.Is(err, syscall.EPERM) {
				t.Errorf("a driver opening a device itself: %v, want EPERM (only init may)", err)
			}
		})
	}
	if *none && *child {
		check.Add("no-open", func(t *check.T) {
			for _, sel := range []uint64{1, 4, 0x0a003e00} {
				if _, err := libdev.Open(sel); !errors.Is(err, syscall.EPERM) {
					t.Errorf("armos_dev_open(%#x) by init's child: %v, want EPERM", sel, err)
				}
			}
			for fd := 0; fd < 8; fd++ {
				if _, err := libdev.Attach(fd); !errors.Is(err, syscall.EBADF) {
					t.Errorf("armos_dev_attach(%d) without a device descriptor: %v, want EBADF", fd, err)
				}
			}
		})
	}
	if *none {
		check.Add("no-grants", func(t *check.T) {
			var info devInfo
			for g := uintptr(0); g < 9; g++ {
				if _, e := call(sysDevInfo, g, uintptr(unsafe.Pointer(&info))); e != syscall.EBADF {
					t.Errorf("armos_dev_info(%d): %v, want EBADF", g, e)
				}
				if _, e := call(sysDevRead, g, 0, 4); e != syscall.EBADF {
					t.Errorf("armos_dev_read(%d): %v, want EBADF", g, e)
				}
				if _, e := call(sysDevMap, g); e != syscall.EBADF {
					t.Errorf("armos_dev_map(%d): %v, want EBADF", g, e)
				}
			}
		})
		check.Main()
		return
	}
	var info devInfo
	check.Add("info", func(t *check.T) {
		if _, e := call(sysDevInfo, 0, uintptr(unsafe.Pointer(&info))); e != 0 {
			t.Fatalf("armos_dev_info(0): %v", e)
		}
		if info.Kind != uint32(*kind) || info.Size != slotSize || info.IRQ == 0 || info.Base%slotSize != 0 {
			t.Errorf("grant 0 is %+v, want a virtio-mmio slot of kind %d with an IRQ", info, *kind)
		}
		if _, e := call(sysDevInfo, 1, uintptr(unsafe.Pointer(&info))); e != syscall.EBADF {
			t.Errorf("armos_dev_info(1): %v, want EBADF (one grant only)", e)
		}
	})
	check.Add("mediated-registers", func(t *check.T) {
		want := map[uintptr]uintptr{regMagic: virtioMagic, regDeviceID: uintptr(*kind), regVendorID: qemuVendorID}
		for off, w := range want {
			if v, e := call(sysDevRead, 0, off, 4); e != 0 || v != w {
				t.Errorf("register %#x: %#x, %v; want %#x", off, v, e, w)
			}
		}
		if v, e := call(sysDevRead, 0, regVersion, 4); e != 0 || v != 1 && v != 2 {
			t.Errorf("version: %d, %v", v, e)
		}
		// Status: reset (0), then ACKNOWLEDGE (1) reads back, then reset.
		for _, s := range []uintptr{0, 1, 0} {
			if _, e := call(sysDevWrite, 0, regStatus, 4, s); e != 0 {
				t.Fatalf("write status %d: %v", s, e)
			}
			if v, e := call(sysDevRead, 0, regStatus, 4); e != 0 || v != s {
				t.Errorf("status after writing %d: %d, %v", s, v, e)
			}
		}
	})
	check.Add("neighbour-unreachable", func(t *check.T) {
		// The next slot starts at offset 0x200 of this grant's registers:
		// out of reach, as is any misaligned or oversized access.
		for _, a := range [][2]uintptr{{slotSize, 4}, {slotSize - 2, 4}, {regMagic + 1, 4}, {0, 8}, {0, 3}, {^uintptr(0) &^ 3, 4}} {
			if _, e := call(sysDevRead, 0, a[0], a[1]); e != syscall.EINVAL {
				t.Errorf("read offset %#x width %d: %v, want EINVAL", a[0], a[1], e)
			}
			if _, e := call(sysDevWrite, 0, a[0], a[1], 0); e != syscall.EINVAL {
				t.Errorf("write offset %#x width %d: %v, want EINVAL", a[0], a[1], e)
			}
		}
	})
	check.Add("map", func(t *check.T) {
		va, e := call(sysDevMap, 0)
		switch *mode {
		case "shared":
			if e != syscall.EACCES {
				t.Errorf("armos_dev_map on a page shared with another's device: %#x, %v; want EACCES", va, e)
			}
		case "exclusive":
			if e != 0 {
				t.Fatalf("armos_dev_map: %v", e)
			}
			if va%slotSize != 0 || va&0xfff != uintptr(info.Base&0xfff) {
				t.Fatalf("mapped at %#x for registers at %#x", va, info.Base)
			}
			regs := (*[slotSize / 4]uint32)(pointerAt(va))
			reg := func(off uintptr) uint32 { return regs[off/4] }
			if reg(regMagic) != virtioMagic || reg(regDeviceID) != uint32(*kind) {
				t.Errorf("through the mapping: magic %#x device %d", reg(regMagic), reg(regDeviceID))
			}
			regs[regStatus/4] = 1
			if v, _ := call(sysDevRead, 0, regStatus, 4); v != 1 {
				t.Errorf("a store through the mapping did not reach the device: status %d", v)
			}
			regs[regStatus/4] = 0
		default:
			t.Fatalf("-map %q: want shared or exclusive", *mode)
		}
	})
	if *kind == 4 {
		check.Add("irq-virtqueue", checkIRQ)
	}
	check.Main()
}

// checkIRQ drives the granted virtio-rng device (legacy virtio-mmio, QEMU
// 7.2's default) through one request: a virtqueue in shared memory whose
// physical address the kernel reveals (armos_shm_info), a descriptor for
// a 64-byte buffer, a notify; then it waits for the device's interrupt on
// its interrupt object, reads the used ring, acknowledges the device and
// the object. Only the grant's holder may open the interrupt, once.
func checkIRQ(t *check.T) {
	reg := func(off uintptr) uint32 {
		v, e := call(sysDevRead, 0, off, 4)
		if e != 0 {
			t.Fatalf("read register %#x: %v", off, e)
		}
		return uint32(v)
	}
	set := func(off uintptr, v uint32) {
		if _, e := call(sysDevWrite, 0, off, 4, uintptr(v)); e != 0 {
			t.Fatalf("write register %#x: %v", off, e)
		}
	}
	if v := reg(regVersion); v != 1 {
		t.Fatalf("virtio-mmio version %d: this check drives the legacy interface (QEMU 7.2's default)", v)
	}
	irq, _, e := syscall.RawSyscall(abi.SysDevIRQ, 0, syscall.O_CLOEXEC, 0)
	if e != 0 {
		t.Fatalf("armos_dev_irq: %v", e)
	}
	defer syscall.Close(int(irq))
	if _, _, e := syscall.RawSyscall(abi.SysDevIRQ, 0, 0, 0); e != syscall.EBUSY {
		t.Errorf("a second interrupt object: %v, want EBUSY", e)
	}
	if _, _, e := syscall.RawSyscall(abi.SysDevIRQ, 5, 0, 0); e != syscall.EBADF {
		t.Errorf("an interrupt of no grant: %v, want EBADF", e)
	}
	// Two pages: the queue (descriptors, available and used rings with a
	// 256-byte alignment, all in one page) and the buffer.
	shm, err := libipc.KShmCreate(2*4096, syscall.O_CLOEXEC)
	if err != nil {
		t.Fatalf("shm: %v", err)
	}
	defer syscall.Close(shm)
	mem, err := syscall.Mmap(shm, 0, 2*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer syscall.Munmap(mem)
	pas := make([]uint64, 2)
	if _, err := libipc.KShmInfo(shm, pas); err != nil {
		t.Fatalf("shm info: %v", err)
	}
	const qsize, availOff, usedOff = 8, 16 * 8, 256
	set(regStatus, 0)
	set(regStatus, 1|2) // ACKNOWLEDGE | DRIVER
	set(regGuestFeatures, 0)
	set(regGuestPageSize, 4096)
	set(regQueueSel, 0)
	if m := reg(regQueueNumMax); m < qsize {
		t.Fatalf("queue max %d", m)
	}
	set(regQueueNum, qsize)
	set(regQueueAlign, usedOff)
	set(regQueuePFN, uint32(pas[0]>>12))
	set(regStatus, 1|2|4) // DRIVER_OK
	le := binary.LittleEndian
	le.PutUint64(mem[0:], pas[1]) // descriptor 0: the buffer page, device-writable
	le.PutUint32(mem[8:], 64)
	le.PutUint16(mem[12:], 2)                                            // VIRTQ_DESC_F_WRITE
	le.PutUint16(mem[availOff+4:], 0)                                    // avail.ring[0] = descriptor 0
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[availOff])), 1<<16) // avail.flags 0, avail.idx 1
	set(regQueueNotify, 0)

	var n [8]byte
	if _, err := syscall.Read(int(irq), n[:]); err != nil || le.Uint64(n[:]) == 0 {
		t.Fatalf("waiting for the interrupt: %v, count %d", err, le.Uint64(n[:]))
	}
	st := reg(regIntStatus)
	if st&1 == 0 {
		t.Errorf("interrupt status %#x: no used buffer", st)
	}
	set(regIntAck, st)
	if _, err := syscall.Write(int(irq), n[:]); err != nil {
		t.Errorf("acknowledging the interrupt object: %v", err)
	}
	if idx := le.Uint16(mem[usedOff+2:]); idx != 1 {
		t.Fatalf("used.idx %d, want 1", idx)
	}
	if id, l := le.Uint32(mem[usedOff+4:]), le.Uint32(mem[usedOff+8:]); id != 0 || l == 0 || l > 64 {
		t.Errorf("used element: id %d len %d", id, l)
	}
	if bytes.Equal(mem[4096:4096+32], make([]byte, 32)) {
		t.Errorf("the device wrote nothing random into the buffer")
	}
	// Non-blocking: no interrupt pending now.
	syscall.SetNonblock(int(irq), true)
	if _, err := syscall.Read(int(irq), n[:]); err != syscall.EAGAIN {
		t.Errorf("read with nothing pending: %v, want EAGAIN", err)
	}
	set(regStatus, 0) // reset: the device forgets the queue
}
