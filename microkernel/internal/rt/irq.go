package rt

import (
	"unsafe"

	"armos/microkernel/internal/arch"
)

// Interrupt objects: how a driver process waits for its device. The
// process holding a device grant opens the device's interrupt as a
// descriptor (armos_dev_irq), which it waits on like anything else (read
// blocks; epoll, Go's poller included, reports it readable). The kernel's
// interrupt path masks the interrupt at the GIC, counts it on the object
// and wakes the waiters; the driver handles the device (acknowledging the
// device's own interrupt status) and then writes to the descriptor, which
// unmasks it. A level-triggered line that stays asserted therefore raises
// one interrupt per acknowledgement, never a storm. Closing the object (or
// the process's end) masks the interrupt again.

// maxINTID bounds the INTIDs an object may take (SPIs of QEMU virt's GIC).
const maxINTID = 1020

// irqObj maps an INTID to 1 + its interrupt object (0: none).
var irqObj [maxINTID]int32

// armos_dev_irq(grant, flags)
func sysDevIRQFn(tf *Frame) uint64 {
	if tf.X[1]&^(oCLOEXEC|oNONBLOCK) != 0 {
		return errno(EINVAL)
	}
	d := grantedDevice(tf.X[0])
	if d < 0 {
		return errno(EBADF)
	}
	id := devs.d[d].IRQ
	if id < 32 || id >= maxINTID {
		return errno(ENODEV) // no interrupt of its own
	}
	if irqObj[id] != 0 {
		return errno(EBUSY) // one object per interrupt
	}
	o := allocObject(objIRQ, oRDWR|uint32(tf.X[1])&oNONBLOCK)
	if o < 0 {
		return errno(ENFILE)
	}
	if objQueue(o) < 0 {
		putObject(o)
		return errno(ENFILE)
	}
	objs[o].intid = id
	irqObj[id] = o + 1
	fd := newFd(o, tf.X[1]&oCLOEXEC != 0)
	if int64(fd) >= 0 {
		arch.GICEnable(id)
	}
	return fd
}

// deviceIRQ is the interrupt path for a device interrupt id: if a driver
// holds it, mask it, count it, and wake the driver.
//
//go:nosplit
func deviceIRQ(id uint32) {
	if id >= maxINTID || irqObj[id] == 0 {
		return
	}
	o := irqObj[id] - 1
	arch.GICDisable(id)
	objs[o].count++
	if q := objs[o].q; q >= 0 {
		wakeQueueRetry(q)
	}
	notify(o)
}

// irqRead hands over the interrupts counted since the last read.
//
//go:nosplit
func irqRead(tf *Frame, o int32, va, n uint64) uint64 {
	ob := &objs[o]
	if n < 8 {
		return errno(EINVAL)
	}
	if ob.count == 0 {
		if ob.flags&oNONBLOCK != 0 {
			return errno(EAGAIN)
		}
		return blockOn(tf, ob.q, waitIRQ, 0, 0)
	}
	c := ob.count
	if !copyOut(va, bytesOf(unsafe.Pointer(&c), 8)) {
		return errno(EFAULT)
	}
	ob.count = 0
	return 8
}

// irqAck unmasks the interrupt of object o (a write of 8 bytes).
//
//go:nosplit
func irqAck(o int32, n uint64) uint64 {
	if n < 8 {
		return errno(EINVAL)
	}
	arch.GICEnable(objs[o].intid)
	return 8
}

// closeIRQ is the last release of interrupt object o: masked again.
//
//go:nosplit
func closeIRQ(o int32) {
	id := objs[o].intid
	if id < maxINTID && irqObj[id] == o+1 {
		irqObj[id] = 0
		arch.GICDisable(id)
	}
}

// Process descriptors (pidfd_open, as on Linux): a descriptor for a
// process that epoll reports readable (EPOLLIN) once the process has
// ended, so one wait covers channels, interrupts and process exits. Only
// pidfd_open is served: waitid(P_PIDFD) and pidfd_send_signal are not, so
// Go's os package (which checks all three) keeps to wait4 and kill.

// pidfd_open(pid, flags)
//
//go:nosplit
func sysPidfdOpenFn(tf *Frame) uint64 {
	pid := int32(tf.X[0])
	if tf.X[1]&^oNONBLOCK != 0 || int64(tf.X[0]) <= 0 || uint64(pid) != tf.X[0] {
		return errno(EINVAL)
	}
	if findPid(pid) < 0 {
		return errno(ESRCH)
	}
	o := allocObject(objPidfd, oRDONLY|uint32(tf.X[1])&oNONBLOCK)
	if o < 0 {
		return errno(ENFILE)
	}
	objs[o].pid = pid
	return newFd(o, true) // pidfds are close-on-exec, as on Linux
}

// processEnded tells the descriptors of process pid that it has ended.
//
//go:nosplit
func processEnded(pid int32) {
	for i := range objs {
		if objs[i].kind == objPidfd && objs[i].pid == pid {
			notify(int32(i))
		}
	}
}
