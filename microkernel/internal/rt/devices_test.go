package rt

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"armos/abi"
	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// fakeDevices registers devices: a and b over host memory, sharing one
// page (two virtio-mmio slots 0x200 apart), each with its "magic" as its
// first word and its kind at offset 8; c on a page of its own.
func fakeDevices(t *testing.T) (a, b, c int, mem []byte) {
	t.Helper()
	mem = make([]byte, 3*pageSize)
	base := (uint64(uintptr(unsafe.Pointer(&mem[0]))) + pageSize - 1) &^ (pageSize - 1)
	off := base - uint64(uintptr(unsafe.Pointer(&mem[0])))
	pa := base - mm.LinearBase // DeviceAddr adds the linear map's base back
	reg := func(at uint64, kind uint32) int {
		binary.LittleEndian.PutUint32(mem[off+at-pa:], 0x74726976)
		binary.LittleEndian.PutUint32(mem[off+at-pa+8:], kind)
		n, err := RegisterDevice(Device{Base: at, Size: 0x200, IRQ: 48 + kind, Kind: kind})
		require.NoError(t, err)
		return n
	}
	a, b = reg(pa, 1), reg(pa+0x200, 4)
	// c is only mapped, never read through the kernel: a real address
	// (the host's memory is not below the 48-bit physical limit).
	c, err := RegisterDevice(Device{Base: 0x0a00_3e00, Size: 0x200, IRQ: 79, Kind: 2})
	require.NoError(t, err)
	return a, b, c, mem
}

// TestDeviceGrantsIsolate: a process reaches only the devices granted to
// it, only within their registers; it gets its device's page mapped only
// when no other device on that page belongs to someone else; a device has
// one holder at a time, released when the holder ends.
func TestDeviceGrantsIsolate(t *testing.T) {
	resetKernel(t, 256)
	a, b, c, _ := fakeDevices(t)
	base := TakeCensus()
	u, tf := newUserFrame(t, 1)
	v, tfv := newUserFrame(t, 1)

	g, err := GrantDevice(u.pid, a)
	require.NoError(t, err)
	require.Zero(t, g)
	_, err = GrantDevice(v.pid, a)
	require.ErrorIs(t, err, ErrDeviceTaken)
	_, err = GrantDevice(u.pid, 99)
	require.ErrorIs(t, err, ErrNoDevice)
	require.Equal(t, u.pid, DeviceOwner(a))

	switchTo(t, tf, u.main)
	info := u.put(0, make([]byte, 24))
	require.Zero(t, svc(tf, sysArmosDevInfo, 0, info))
	d := Devices()[a]
	require.Equal(t, d.Base, u.u64(info))
	require.Equal(t, uint64(0x200), u.u64(info+8))
	require.Equal(t, d.IRQ, u.u32(info+16))
	require.Equal(t, uint32(1), u.u32(info+20))
	require.Equal(t, errno(EBADF), svc(tf, sysArmosDevInfo, 1, info), "no grant 1")
	require.Equal(t, errno(EFAULT), svc(tf, sysArmosDevInfo, 0, 8))

	// Mediated access: its registers, and nothing else.
	require.Equal(t, uint64(0x74726976), svc(tf, sysArmosDevRead, 0, 0, 4))
	require.Equal(t, uint64(1), svc(tf, sysArmosDevRead, 0, 8, 4))
	require.Zero(t, svc(tf, sysArmosDevWrite, 0, 0x70, 4, 0xabcd))
	require.Equal(t, uint64(0xabcd), svc(tf, sysArmosDevRead, 0, 0x70, 4))
	require.Equal(t, uint64(0xcd), svc(tf, sysArmosDevRead, 0, 0x70, 1))
	require.Equal(t, uint64(0xabcd), svc(tf, sysArmosDevRead, 0, 0x70, 2))
	for _, bad := range [][2]uint64{{0x200, 4}, {0x1fe, 4}, {0x71, 4}, {0x70, 3}, {0x70, 8}, {1 << 63, 4}} {
		require.Equal(t, errno(EINVAL), svc(tf, sysArmosDevRead, 0, bad[0], bad[1]), "offset %#x width %d", bad[0], bad[1])
		require.Equal(t, errno(EINVAL), svc(tf, sysArmosDevWrite, 0, bad[0], bad[1], 0))
	}
	require.Equal(t, errno(EBADF), svc(tf, sysArmosDevRead, 1, 0, 4))
	require.Equal(t, errno(EBADF), svc(tf, sysArmosDevWrite, maxGrants, 0, 4, 0))

	// b shares a's page and is not u's: no mapping.
	require.Equal(t, errno(EACCES), svc(tf, sysArmosDevMap, 0))
	_, err = GrantDevice(v.pid, b)
	require.NoError(t, err)
	require.Equal(t, errno(EACCES), svc(tf, sysArmosDevMap, 0), "b is v's")
	switchTo(t, tfv, v.main)
	require.Equal(t, errno(EACCES), svc(tfv, sysArmosDevMap, 0), "nor may v map a's page")
	require.Equal(t, uint64(4), svc(tfv, sysArmosDevRead, 0, 8, 4), "v reads its own b")

	// c has its page to itself: mapped, Device memory, EL0 read-write.
	switchTo(t, tf, u.main)
	gc, err := GrantDevice(u.pid, c)
	require.NoError(t, err)
	va := svc(tf, sysArmosDevMap, uint64(gc))
	require.Less(t, va, uint64(mm.UserHigh))
	pa, attr, ok := pr(u.p).as.PT.Lookup(va &^ (pageSize - 1))
	require.True(t, ok)
	require.Equal(t, Devices()[c].Base&^(pageSize-1), pa)
	require.Equal(t, uint64(0xe00), va%pageSize, "the address of its registers in the page")
	require.Equal(t, mm.UserDevice, attr)
	// Its protection stays; its page is not memory to drop.
	require.Equal(t, errno(EACCES), svc(tf, sysMprotect, va&^(pageSize-1), pageSize, uint64(mm.ProtRead)))
	require.Equal(t, errno(EINVAL), svc(tf, sysMadvise, va&^(pageSize-1), pageSize, madvDontneed))
	require.Zero(t, svc(tf, sysMunmap, va&^(pageSize-1), pageSize))
	require.Equal(t, mm.FaultSegvMapErr, pr(u.p).as.Fault(va, mm.AccessRead), "unmapped: gone")

	// When u ends, its devices are free again; nothing leaked.
	exitProcess(u.p, 0, false)
	require.Zero(t, DeviceOwner(a))
	require.Zero(t, DeviceOwner(c))
	require.Equal(t, v.pid, DeviceOwner(b))
	endAll(t)
	require.Equal(t, base, TakeCensus())
}

// TestRegisterDeviceRefusesStraddlingRegisters: a device's registers must
// lie within one page (a grant maps or mediates exactly one page).
func TestRegisterDeviceRefusesStraddlingRegisters(t *testing.T) {
	resetKernel(t, 64)
	_, err := RegisterDevice(Device{Base: 0xa000e00, Size: 0x400})
	require.ErrorIs(t, err, ErrBadDevice)
	_, err = RegisterDevice(Device{Base: 0xa000e00, Size: 0})
	require.ErrorIs(t, err, ErrBadDevice)
	n, err := RegisterDevice(Device{Base: 0xa000e00, Size: 0x200})
	require.NoError(t, err)
	require.Zero(t, n)
}

// fakeGIC points the GIC driver at host memory (a GICv2 distributor and
// CPU interface) and returns the distributor's words.
// The memory stays for the test binary's life: the driver keeps pointing
// at it.
func fakeGIC(t *testing.T) []uint32 {
	t.Helper()
	clear(gicDist)
	clear(gicCPU)
	arch.GICInit(2, uintptr(unsafe.Pointer(&gicDist[0])), uintptr(unsafe.Pointer(&gicCPU[0])))
	return gicDist
}

var gicDist, gicCPU = make([]uint32, 0x1000/4), make([]uint32, 0x1000/4)

// TestIRQObject: the holder of a grant opens its device's interrupt once;
// an interrupt masks it and makes the object readable (count), a write
// unmasks it, closing masks it and frees the INTID for another opener.
func TestIRQObject(t *testing.T) {
	resetKernel(t, 512)
	dist := fakeGIC(t)
	a, _, _, _ := fakeDevices(t)
	u, tf := newUserFrame(t, 4)
	g, err := GrantDevice(u.pid, a)
	require.NoError(t, err)
	intid := devs.d[a].IRQ
	enabled := func() bool { return dist[(0x100+intid/32*4)/4]&(1<<(intid%32)) != 0 }
	cleared := func() bool { return dist[(0x180+intid/32*4)/4]&(1<<(intid%32)) != 0 }

	require.Equal(t, errno(EBADF), svc(tf, abi.SysDevIRQ, 5, 0))
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysDevIRQ, uint64(g), 0x4))
	fd := svc(tf, abi.SysDevIRQ, uint64(g), oNONBLOCK)
	require.Positive(t, int64(fd))
	require.True(t, enabled(), "opening unmasks it")
	require.Equal(t, errno(EBUSY), svc(tf, abi.SysDevIRQ, uint64(g), 0))
	buf := u.scratch + 64
	require.Equal(t, errno(EAGAIN), svc(tf, sysRead, fd, buf, 8))
	require.Equal(t, uint32(epollOut), poll(fdObject(fd)))

	deviceIRQ(intid)
	deviceIRQ(intid)
	require.True(t, cleared(), "the interrupt path masks it")
	require.Equal(t, uint32(epollIn|epollOut), poll(fdObject(fd)))
	require.Equal(t, errno(EINVAL), svc(tf, sysRead, fd, buf, 4))
	require.EqualValues(t, 8, svc(tf, sysRead, fd, buf, 8))
	require.EqualValues(t, 2, u.u64(buf))
	require.Equal(t, errno(EAGAIN), svc(tf, sysRead, fd, buf, 8))
	dist[(0x100+intid/32*4)/4] = 0
	require.EqualValues(t, 8, svc(tf, sysWrite, fd, buf, 8))
	require.True(t, enabled(), "a write acknowledges: unmasked")

	// A blocking reader waits and is woken by the interrupt.
	require.Zero(t, svc(tf, sysFcntl, fd, fSetfl, 0))
	svc(tf, sysRead, fd, buf, 8)
	requireBlocked(t, u.main, waitIRQ)
	deviceIRQ(intid)
	requireRetrying(t, u.main, sysRead)
	switchTo(t, tf, u.main)
	require.EqualValues(t, 8, retry(t, tf))

	dist[(0x180+intid/32*4)/4] = 0
	require.Zero(t, svc(tf, sysClose, fd))
	require.True(t, cleared(), "closing masks it")
	require.Zero(t, irqObj[intid])
	fd = svc(tf, abi.SysDevIRQ, uint64(g), 0)
	require.Positive(t, int64(fd), "free again")
	deviceIRQ(999) // nobody's: ignored
}

// TestPidfd: a process descriptor becomes readable when its process ends,
// and wakes an epoll waiter; bad arguments are refused.
func TestPidfd(t *testing.T) {
	resetKernel(t, 512)
	u, tf := newUserFrame(t, 4)
	kid := u.newChild(2)
	require.Equal(t, errno(EINVAL), svc(tf, sysPidfdOpen, uint64(kid.pid), 1))
	require.Equal(t, errno(EINVAL), svc(tf, sysPidfdOpen, 0, 0))
	require.Equal(t, errno(ESRCH), svc(tf, sysPidfdOpen, 99999, 0))
	fd := svc(tf, sysPidfdOpen, uint64(kid.pid), oNONBLOCK)
	require.Positive(t, int64(fd))
	require.True(t, pr(u.p).fds[fd].cloexec)
	require.Zero(t, poll(fdObject(fd)))
	ep := svc(tf, sysEpollCreate1, 0)
	ev := u.put(512, bytesOfStruct(&epollEvent{Events: epollIn, Data: 77}))
	require.Zero(t, svc(tf, sysEpollCtl, ep, epollCtlAdd, fd, ev))
	out := u.scratch + 1024
	svc(tf, sysEpollPwait, ep, out, 4, neg(-1), 0, 8)
	requireBlocked(t, u.main, waitEpoll)
	exitProcess(kid.p, 0, false)
	requireRetrying(t, u.main, sysEpollPwait)
	switchTo(t, tf, u.main)
	require.EqualValues(t, 1, retry(t, tf))
	require.EqualValues(t, 77, u.u64(out+8), "the process descriptor's event")
	require.Equal(t, uint32(epollIn), poll(fdObject(fd)))
	reapAll(t)
	require.Equal(t, uint64(kid.pid), svc(tf, sysWait4, uint64(kid.pid), 0, 0, 0))
	require.Equal(t, uint32(epollIn), poll(fdObject(fd)), "still readable once reaped")
	require.Equal(t, errno(EINVAL), svc(tf, sysRead, fd, out, 8))
}

// TestDeviceDescriptors: init (a process the kernel started) opens a
// device and passes the descriptor to a driver, which attaches it as a
// grant; only one live process has it attached, the descriptor survives
// the driver so a restarted driver attaches again, nobody else may open
// devices, and the device is free once the last descriptor closes.
func TestDeviceDescriptors(t *testing.T) {
	resetKernel(t, 256)
	a, b, _, _ := fakeDevices(t)
	base := TakeCensus()
	u, tf := newUserFrame(t, 1) // started by the kernel: init
	switchTo(t, tf, u.main)
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysDevOpen, 1, 0x1))
	fd := svc(tf, abi.SysDevOpen, 1, oCLOEXEC)
	require.Less(t, int64(fd), int64(maxFds), "a descriptor")
	require.True(t, pr(u.p).fds[fd].cloexec)
	require.Equal(t, errno(EBUSY), svc(tf, abi.SysDevOpen, 1, 0), "one descriptor per device")
	require.Equal(t, errno(ENODEV), svc(tf, abi.SysDevOpen, 7, 0), "no such kind")
	fdb := svc(tf, abi.SysDevOpen, Devices()[b].Base, 0)
	require.Less(t, int64(fdb), int64(maxFds), "by address")
	_, err := GrantDevice(u.pid, a)
	require.ErrorIs(t, err, ErrDeviceTaken, "an open device is not granted on the command line")
	require.Equal(t, errno(EBADF), svc(tf, abi.SysDevAttach, 0), "the console is no device")
	require.Equal(t, errno(EBADF), svc(tf, abi.SysDevAttach, 77))

	// A child (a driver init starts) may not open devices; with the
	// descriptor it attaches the device as its grant 0.
	kid := u.newChild(1)
	o := fdObject(fd)
	getObject(o)
	installFd(kid.p, 5, o, false)
	switchTo(t, tf, kid.main)
	require.Equal(t, errno(EPERM), svc(tf, abi.SysDevOpen, 4, 0))
	require.Zero(t, svc(tf, abi.SysDevAttach, 5))
	info := kid.put(0, make([]byte, 24))
	require.Zero(t, svc(tf, sysArmosDevInfo, 0, info))
	require.Equal(t, Devices()[a].Base, kid.u64(info))
	require.Equal(t, kid.pid, DeviceOwner(a))
	switchTo(t, tf, u.main)
	require.Equal(t, errno(EBUSY), svc(tf, abi.SysDevAttach, fd), "attached to the driver")

	// The driver ends: the device is detached, init attaches (or starts a
	// new driver) again.
	exitProcess(kid.p, 0, false)
	reapAll(t)
	switchTo(t, tf, u.main)
	require.Zero(t, DeviceOwner(a))
	require.Zero(t, svc(tf, abi.SysDevAttach, fd))
	require.Equal(t, u.pid, DeviceOwner(a))

	// The last descriptor closes: the device may be opened again.
	require.Zero(t, svc(tf, sysClose, fd))
	require.Zero(t, svc(tf, sysClose, fdb))
	fd = svc(tf, abi.SysDevOpen, Devices()[b].Base, 0)
	require.Less(t, int64(fd), int64(maxFds), "b was freed by its close")
	require.Zero(t, svc(tf, sysClose, fd))
	exitProcess(u.p, 0, false)
	require.Zero(t, DeviceOwner(a))
	endAll(t)
	require.Equal(t, base, TakeCensus())
}

// TestVirtioResetWhenHolderEnds: a virtio device is reset (Status 0) when
// the process holding it ends, so its DMA stops before that process's
// pages are freed; a device not marked for it is left alone.
func TestVirtioResetWhenHolderEnds(t *testing.T) {
	resetKernel(t, 256)
	mem := heapBytes(2 * pageSize)
	base := (uint64(uintptr(unsafe.Pointer(&mem[0]))) + pageSize - 1) &^ (pageSize - 1)
	off := base - uint64(uintptr(unsafe.Pointer(&mem[0])))
	pa := base - mm.LinearBase
	d, err := RegisterDevice(Device{Base: pa, Size: 0x200, IRQ: 50, Kind: 1, VirtioReset: true})
	require.NoError(t, err)
	e, err := RegisterDevice(Device{Base: pa + 0x200, Size: 0x200, IRQ: 51, Kind: 1})
	require.NoError(t, err)
	u, tf := newUserFrame(t, 1)
	_, err = GrantDevice(u.pid, d)
	require.NoError(t, err)
	_, err = GrantDevice(u.pid, e)
	require.NoError(t, err)
	switchTo(t, tf, u.main)
	require.Zero(t, svc(tf, sysArmosDevWrite, 0, 0x70, 4, 0xf))
	require.Zero(t, svc(tf, sysArmosDevWrite, 1, 0x70, 4, 0xf))
	require.Equal(t, uint32(0xf), binary.LittleEndian.Uint32(mem[off+0x70:]))
	require.Equal(t, uint32(0xf), binary.LittleEndian.Uint32(mem[off+0x270:]))
	before := stats.DeviceResets
	exitProcess(u.p, 0, false)
	require.Zero(t, binary.LittleEndian.Uint32(mem[off+0x70:]), "reset: Status 0")
	require.Equal(t, uint32(0xf), binary.LittleEndian.Uint32(mem[off+0x270:]), "not a resettable device: untouched")
	require.Equal(t, before+1, stats.DeviceResets)
	endAll(t)
}

// heapBytes returns n bytes on the heap: device registers faked in
// memory must not live on a goroutine stack, which moves when it grows.
//
//go:noinline
func heapBytes(n int) []byte { return make([]byte, n) }
