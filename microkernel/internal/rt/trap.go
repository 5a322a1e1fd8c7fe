package rt

// Trap entry from vectors_arm64.s: decide "system call, page fault,
// interrupt or fatal", then pick the thread to resume and arm the timer.
//
// Trap-level code rule: everything reachable from trap runs on the
// exception stack with interrupts masked and g = trapG (a fake g whose zero
// stack guard makes every function prologue pass). It must not allocate,
// take Go locks, store Go pointers, use interfaces, maps or defer, or call
// into the runtime.

import "armos/microkernel/internal/arch"

// Trap kinds (vectors_arm64.s).
const (
	kindSync     = 0
	kindIRQ      = 1
	kindFIQ      = 2
	kindSError   = 3
	kindNested   = 4
	kindLower    = 5 // synchronous, SError or FIQ from EL0
	kindLowerIRQ = 6 // IRQ from EL0
)

// Exception classes, ESR_EL1.EC (Arm ARM D17.2.37, "ESR_EL1").
const (
	ecUnknown       = 0x00
	ecFPAccess      = 0x07
	ecSVC64         = 0x15
	ecSysReg        = 0x18
	ecInstAbortLow  = 0x20
	ecInstAbortSame = 0x21
	ecPCAlign       = 0x22
	ecDataAbortLow  = 0x24
	ecDataAbortSame = 0x25
	ecSPAlign       = 0x26
	ecBRK           = 0x3c
)

// trap is called by trapCommon with the interrupted thread's registers in
// tf. On return, tf holds the registers of the thread to resume.
//
//go:nosplit
func trap(kind uint64, tf *Frame) {
	switch kind {
	case kindSync:
		esr := arch.ESR()
		switch esr >> 26 {
		case ecSVC64:
			syscall(tf)
		case ecDataAbortSame:
			far := uintptr(arch.FAR())
			if isTranslationFault(esr) && kas.Fault(far) {
				break
			}
			if isTranslationFault(esr) && kas.outOfMemory {
				outOfMemory(tf, uint64(far))
			}
			syncFault(tf, esr, uint64(far))
		default:
			syncFault(tf, esr, arch.FAR())
		}
	case kindIRQ:
		irq()
	case kindLower:
		if !lowerTrap(tf) {
			fatalTrap(tf, kind)
		}
	case kindLowerIRQ:
		if !leaveUser(tf, TrapIRQ, 0, 0) {
			fatalTrap(tf, kind)
		}
		irq()
	default:
		fatalTrap(tf, kind)
	}
	finishTrap(tf)
	syncTTBR()
}

// isTranslationFault reports whether a data abort's DFSC (ESR_EL1[5:0]) is
// a translation fault at any level (0b0001LL).
//
//go:nosplit
func isTranslationFault(esr uint64) bool { return esr&0x3c == 0x04 }

// timerIntid is the virtual timer's INTID (from the DTB).
var timerIntid uint32

// irq acknowledges and handles every pending interrupt.
//
//go:nosplit
func irq() {
	for {
		id := arch.GICAck()
		if id >= 1020 {
			return
		}
		if id == timerIntid {
			arch.DisarmTimer()
			stats.TimerIRQs++
		} else {
			stats.OtherIRQs++
		}
		arch.GICEOI(id)
	}
}

// finishTrap wakes threads whose deadline passed, switches threads if the
// running one blocked, yielded or used up its quantum, delivers pending
// signals and arms the timer for the next event.
//
//go:nosplit
func finishTrap(tf *Frame) {
	t := now()
	expire(t)
	if reschedule || cur == idle || (sliceEnd != 0 && t >= sliceEnd) {
		schedule(tf, t)
	} else if sliceEnd == 0 {
		startSlice(t)
	}
	if cur != idle && threads[cur].user == 0 { // signals wait while at EL0
		deliverSignals(tf)
	} else if cur != idle && sliceEnd == 0 {
		// At EL0 the thread gets a quantum even when nothing else is
		// runnable: the timer brings a spinning user thread back.
		sliceEnd = t + nsToTicks(quantumNS)
	}
	if ev := nextEvent(); ev != 0 {
		arch.ArmTimer(ev)
	} else {
		arch.DisarmTimer()
	}
}
