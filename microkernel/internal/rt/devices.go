package rt

import (
	"errors"
	"unsafe"

	"armos/abi"
	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// Device grants: how a driver process reaches exactly its device.
//
// The kernel registers the machine's MMIO devices at boot (RegisterDevice)
// and whoever starts a driver grants it devices (GrantDevice: the kernel's
// command line today, init later). A device belongs to one process at a
// time, until that process ends. The process names its devices by grant
// number (0, 1, ... in the order granted) in four armos system calls:
//
//	armos_dev_info(grant, *DevInfo)          what the device is: registers, IRQ, kind
//	armos_dev_map(grant) -> address          its registers mapped into the process
//	armos_dev_read(grant, off, width) -> v   one register read by the kernel
//	armos_dev_write(grant, off, width, v)    one register written by the kernel
//
// QEMU virt's virtio-mmio slots are 0x200 bytes apart, eight to a 4 KiB
// page, so a page-granular mapping of one device would expose its
// neighbours. armos_dev_map therefore maps the page only when every
// populated device on it is granted to the caller (then nothing else is
// exposed: the page's other slots are empty, and writes to an empty slot
// do nothing); otherwise it is EACCES, and the driver uses armos_dev_read
// and armos_dev_write, which the kernel checks against the device's own
// registers (offset and width inside its slot, naturally aligned). A
// virtio driver touches registers only to set up queues, notify and
// acknowledge interrupts; its data moves through DMA memory, not
// registers, so the mediated path costs a system call per notification.
// A device's interrupt reaches its driver as a descriptor (irq.go).

// Device is an MMIO device the kernel can grant to a driver process.
type Device struct {
	Base, Size uint64 // its registers (physical address, bytes)
	IRQ        uint32 // its interrupt (INTID), 0 if none
	Kind       uint32 // the virtio device ID (1 net, 2 block, 4 rng...), 0 if not virtio
	// VirtioReset: the kernel resets the device (virtio-mmio Status = 0)
	// when the process holding it ends, before that process's memory is
	// freed, so a dead driver's device never writes into pages that
	// belong to someone else by then (its rings still name them).
	VirtioReset bool
}

// virtioStatus is the virtio-mmio Status register's offset.
const virtioStatus = 0x70

// DevInfo is what armos_dev_info writes (24 bytes, little-endian).
type DevInfo struct {
	Base, Size uint64
	IRQ, Kind  uint32
}

// armos system calls of the device grants (beside sysArmosDebug).
const (
	sysArmosDevInfo  = 501
	sysArmosDevMap   = 502
	sysArmosDevRead  = 503
	sysArmosDevWrite = 504
)

const (
	maxDevices = 64
	// maxGrants is how many devices one process may hold.
	maxGrants = 8
)

var devs struct {
	n     int
	d     [maxDevices]Device
	owner [maxDevices]int32 // pid holding it, 0 if none
	open  [maxDevices]bool  // a device descriptor names it (SysDevOpen)
}

// Errors of the device API.
var (
	ErrNoDevice    = errors.New("rt: no such device")
	ErrDeviceTaken = errors.New("rt: the device is granted to another process")
	ErrTooMany     = errors.New("rt: the process holds as many devices as it may")
	ErrBadDevice   = errors.New("rt: device registers must be page-contained, aligned and non-empty")
)

// RegisterDevice records a device the kernel may grant and returns its
// number.
func RegisterDevice(d Device) (int, error) {
	if d.Size == 0 || d.Base&(pageSize-1)+d.Size > pageSize {
		return -1, ErrBadDevice
	}
	n := -1
	var err error
	Locked(func() {
		if devs.n == maxDevices {
			err = ErrTooMany
			return
		}
		n = devs.n
		devs.d[n] = d
		devs.owner[n] = 0
		devs.open[n] = false
		devs.n++
	})
	return n, err
}

// Devices returns the registered devices, by number.
func Devices() []Device {
	var d [maxDevices]Device
	n := 0
	Locked(func() { n = copy(d[:], devs.d[:devs.n]) })
	return append([]Device(nil), d[:n]...)
}

// GrantDevice gives device dev to process pid and returns its grant number
// in that process.
func GrantDevice(pid int32, dev int) (int, error) {
	g := -1
	err := withProcess(pid, func(p int) error {
		if dev < 0 || dev >= devs.n {
			return ErrNoDevice
		}
		if devs.owner[dev] != 0 || devs.open[dev] {
			return ErrDeviceTaken
		}
		if g = addGrant(p, dev); g < 0 {
			return ErrTooMany
		}
		return nil
	})
	return g, err
}

// addGrant makes device dev grant number g of process p; -1 when p holds
// maxGrants already.
//
//go:nosplit
func addGrant(p, dev int) int {
	pp := pr(p)
	for i := range pp.grants {
		if pp.grants[i] < 0 {
			pp.grants[i] = int8(dev)
			devs.owner[dev] = pp.pid
			return i
		}
	}
	return -1
}

// Device descriptors: how init hands a driver its device. A process the
// kernel started (init) opens a device (armos_dev_open) and passes the
// descriptor to the driver it starts (exec, or a message); the driver
// attaches it (armos_dev_attach), which makes it one of its grants. The
// attachment ends with the driver; the descriptor stays with whoever
// holds it, so init can start the driver again with the same device. No
// one without the descriptor can attach the device.

// armos_dev_open(selector, flags)
func sysDevOpenFn(tf *Frame) uint64 {
	if tf.X[1]&^oCLOEXEC != 0 {
		return errno(EINVAL)
	}
	if pr(curProc()).parent != 0 {
		return errno(EPERM) // only what the kernel started manages devices
	}
	sel := tf.X[0]
	d, busy := -1, false
	for i := 0; i < devs.n; i++ {
		if sel >= abi.DevSelectorAddr && devs.d[i].Base != sel || sel < abi.DevSelectorAddr && uint64(devs.d[i].Kind) != sel {
			continue
		}
		if devs.owner[i] != 0 || devs.open[i] {
			busy = true
			continue
		}
		d = i
		break
	}
	if d < 0 {
		if busy {
			return errno(EBUSY)
		}
		return errno(ENODEV)
	}
	o := allocObject(objDevice, oRDWR)
	if o < 0 {
		return errno(ENFILE)
	}
	objs[o].dev = int32(d)
	devs.open[d] = true
	return newFd(o, tf.X[1]&oCLOEXEC != 0)
}

// armos_dev_attach(fd)
func sysDevAttachFn(tf *Frame) uint64 {
	o := fdObject(tf.X[0])
	if o < 0 || objs[o].kind != objDevice {
		return errno(EBADF)
	}
	d := int(objs[o].dev)
	if devs.owner[d] != 0 {
		return errno(EBUSY)
	}
	g := addGrant(curProc(), d)
	if g < 0 {
		return errno(EMFILE)
	}
	return uint64(g)
}

// closeDevice is the last release of device descriptor o: the device may
// be opened again (a process that attached it keeps it until it ends).
//
//go:nosplit
func closeDevice(o int32) {
	devs.open[objs[o].dev] = false
}

// DeviceOwner returns the pid holding device dev (0: none).
func DeviceOwner(dev int) int32 {
	var pid int32
	Locked(func() {
		if dev >= 0 && dev < devs.n {
			pid = devs.owner[dev]
		}
	})
	return pid
}

// resetGrants empties a new process's grants.
//
//go:nosplit
func resetGrants(p *process) {
	for i := range p.grants {
		p.grants[i] = -1
	}
}

// releaseGrants gives back the devices of process p (it is ending).
//
//go:nosplit
func releaseGrants(p int) {
	pp := pr(p)
	for i, d := range pp.grants {
		if d >= 0 && int(d) < devs.n && devs.owner[d] == pp.pid {
			if dv := &devs.d[d]; dv.VirtioReset && dv.Size >= virtioStatus+4 {
				arch.Write32(DeviceAddr(dv.Base+virtioStatus), 0) // stop its DMA
				stats.DeviceResets++
			}
			devs.owner[d] = 0
		}
		pp.grants[i] = -1
	}
}

// grantedDevice returns the device of the running process's grant g, or -1.
//
//go:nosplit
func grantedDevice(g uint64) int {
	pp := pr(curProc())
	if g >= maxGrants || pp.grants[g] < 0 {
		return -1
	}
	return int(pp.grants[g])
}

// armos_dev_info(grant, *DevInfo)
//
//go:nosplit
func sysArmosDevInfoFn(tf *Frame) uint64 {
	d := grantedDevice(tf.X[0])
	if d < 0 {
		return errno(EBADF)
	}
	dv := &devs.d[d]
	info := DevInfo{Base: dv.Base, Size: dv.Size, IRQ: dv.IRQ, Kind: dv.Kind}
	if !copyOut(tf.X[1], bytesOf(unsafe.Pointer(&info), unsafe.Sizeof(info))) {
		return errno(EFAULT)
	}
	return 0
}

// armos_dev_map(grant): the device's registers mapped into the process, if
// no other process's device shares their page.
func sysArmosDevMapFn(tf *Frame) uint64 {
	d := grantedDevice(tf.X[0])
	if d < 0 {
		return errno(EBADF)
	}
	p := curProc()
	page := devs.d[d].Base &^ (pageSize - 1)
	for k := 0; k < devs.n; k++ {
		if devs.d[k].Base&^(pageSize-1) == page && devs.owner[k] != pr(p).pid {
			return errno(EACCES) // a device granted elsewhere (or to no one) shares the page
		}
	}
	va, e := space(p).MapDevice(page)
	if e != mm.OK {
		return mmErr(e)
	}
	stats.Mmaps++
	return va + devs.d[d].Base&(pageSize-1)
}

// devRegister checks an access of width bytes at offset off of device d
// and returns its kernel address (0: refused).
//
//go:nosplit
func devRegister(d int, off, width uint64) uintptr {
	dv := &devs.d[d]
	if width != 1 && width != 2 && width != 4 || off%width != 0 || off >= dv.Size || dv.Size-off < width {
		return 0
	}
	return DeviceAddr(dv.Base + off)
}

// armos_dev_read(grant, offset, width): the register's value (width 1, 2
// or 4 bytes).
//
//go:nosplit
func sysArmosDevReadFn(tf *Frame) uint64 {
	d := grantedDevice(tf.X[0])
	if d < 0 {
		return errno(EBADF)
	}
	a := devRegister(d, tf.X[1], tf.X[2])
	if a == 0 {
		return errno(EINVAL)
	}
	switch tf.X[2] {
	case 1:
		return uint64(arch.Read8(a))
	case 2:
		return uint64(arch.Read16(a))
	}
	return uint64(arch.Read32(a))
}

// armos_dev_write(grant, offset, width, value)
//
//go:nosplit
func sysArmosDevWriteFn(tf *Frame) uint64 {
	d := grantedDevice(tf.X[0])
	if d < 0 {
		return errno(EBADF)
	}
	a := devRegister(d, tf.X[1], tf.X[2])
	if a == 0 {
		return errno(EINVAL)
	}
	switch v := tf.X[3]; tf.X[2] {
	case 1:
		arch.Write8(a, uint8(v))
	case 2:
		arch.Write16(a, uint16(v))
	default:
		arch.Write32(a, uint32(v))
	}
	return 0
}
