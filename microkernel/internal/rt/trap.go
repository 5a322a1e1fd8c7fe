package rt

// Trap entry from vectors_arm64.s: decide "system call, page fault,
// interrupt or fatal", then pick the thread to resume and arm the timer.
//
// Trap-level code rule: everything reachable from trap runs on the
// exception stack with interrupts masked and g = trapG (a fake g whose zero
// stack guard makes every function prologue pass). It must not allocate,
// take Go locks, store Go pointers, use interfaces, maps or defer, or call
// into the runtime.

import (
	goruntime "runtime"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

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
	ecFPException   = 0x2c
	ecBRK           = 0x3c
)

// trap is called by trapCommon with the interrupted thread's registers in
// tf (the Frame at curFrame: the running thread's own regs, or idleFrame).
// On return, the Frame at curFrame holds the registers to resume, another
// thread's after a switch.
//
// Not nosplit: trap-level call chains (the system calls, mm's fault path)
// are deeper than the linker's nosplit allowance. They run with g = trapG,
// whose zero stack guard makes every prologue check pass, on the 64 KiB
// exception stack, whose guard page turns an overflow into a fault report.
func trap(kind uint64, tf *Frame) {
	if klock.held {
		lockViolation(tf, arch.ESR(), arch.FAR())
	}
	start, nr := now(), tf.X[regSyscallNo]
	full := true
	switch kind {
	case kindSync:
		esr := arch.ESR()
		switch esr >> 26 {
		case ecSVC64:
			syscall(tf)
			full = reschedule || schedDirty || (cur != idle && signalsPending(cur))
		case ecDataAbortSame:
			kernelFault(tf, esr, arch.FAR())
		default:
			syncFault(tf, esr, arch.FAR())
		}
	case kindLower:
		esr := arch.ESR()
		if tf.PSTATE&0xf != 0 || cur == idle || !th(cur).user {
			fatalTrap(tf, kind)
		}
		switch esr >> 26 {
		case ecSVC64:
			syscall(tf)
			full = reschedule || schedDirty || (cur != idle && signalsPending(cur))
		case ecInstAbortLow, ecDataAbortLow:
			userFault(tf, esr, arch.FAR())
		default:
			userException(tf, esr, arch.FAR())
		}
	case kindIRQ, kindLowerIRQ:
		irq()
	default:
		fatalTrap(tf, kind)
	}
	if full {
		finishTrap(tf)
	}
	syncTTBR()
	if d := now() - start; d > masked.max {
		noteMasked(d, kind, nr)
	}
}

// Interrupt latency: every trap runs with interrupts masked, and so does
// every locked section; the longest such interval is kept (counter ticks),
// with what it was, for the kernel's report and the latency guest test.
var masked struct {
	max  uint64
	kind uint64 // trap kind, or maskedLocked
	nr   uint64 // the system call number for a system call
}

// maskedLocked marks a locked section in masked.kind.
const maskedLocked = 100

// noteMasked records d, the longest interval yet (nr: X8 at entry, the
// system call number of a system call). trap compares with masked.max
// itself: the call is for a new maximum only.
//
//go:nosplit
func noteMasked(d, kind, nr uint64) {
	masked.max, masked.kind, masked.nr = d, kind, nr
}

// MaskedInterval is the longest time interrupts stayed masked.
type MaskedInterval struct {
	NS    uint64 // in counter time; guest instructions under -icount shift=0
	Where string // what ran: a trap kind or system call, or a locked section
}

// LongestMasked returns the longest interrupts-masked interval so far.
func LongestMasked() MaskedInterval {
	var m MaskedInterval
	var kind, nr uint64
	Locked(func() { m.NS, kind, nr = ticksToNS(masked.max), masked.kind, masked.nr })
	switch kind {
	case kindSync, kindLower:
		m.Where = "trap from EL1, x8 " + itoa(nr)
		if kind == kindLower {
			m.Where = "trap from EL0, x8 " + itoa(nr)
		}
		if nr < maxSyscall && syscalls[nr].name != "" {
			m.Where += " (" + syscalls[nr].name + ")"
		}
	case kindIRQ, kindLowerIRQ:
		m.Where = "interrupt"
	case maskedLocked:
		m.Where = "a locked section (" + funcName(uintptr(nr)) + ")"
	default:
		m.Where = "trap kind " + itoa(kind)
	}
	return m
}

// itoa formats v in decimal.
func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// dataAccess returns the kind of access a data or instruction abort made.
//
//go:nosplit
func dataAccess(esr uint64) mm.Access {
	switch {
	case esr>>26 == ecInstAbortLow || esr>>26 == ecInstAbortSame:
		return mm.AccessExec
	case esr&(1<<6) != 0 && esr&(1<<8) == 0: // WnR, not a cache maintenance op
		return mm.AccessWrite
	}
	return mm.AccessRead
}

// isTranslationFault reports whether an abort's DFSC/IFSC (ESR_EL1[5:0])
// is a translation fault at any level (0b0001LL).
//
//go:nosplit
func isTranslationFault(esr uint64) bool { return esr&0x3c == 0x04 }

// isPermissionFault reports a permission fault at any level (0b0011LL).
//
//go:nosplit
func isPermissionFault(esr uint64) bool { return esr&0x3c == 0x0c }

// kernelFault serves a data abort of the kernel's own Go code: a
// demand-zero page of its heap window, or a fault the runtime gets as a
// signal (syncFault).
//
//go:nosplit
func kernelFault(tf *Frame, esr, far uint64) {
	if isTranslationFault(esr) && far >= mm.KernelHeapBase && far < mm.KernelHeapEnd {
		switch kas.Fault(far, dataAccess(esr)) {
		case mm.FaultMapped:
			return
		case mm.FaultSpurious:
			arch.TLBIRangeGlobal(far&^(pageSize-1), 1)
			return
		case mm.FaultOOM, mm.FaultLimit:
			outOfMemory(tf, far)
		}
	}
	syncFault(tf, esr, far)
}

// userFault serves an instruction or data abort from EL0: demand-zero
// paging, or a signal (SIGSEGV with SEGV_MAPERR or SEGV_ACCERR, SIGBUS for
// alignment), or the end of the process when it is out of memory.
func userFault(tf *Frame, esr, far uint64) {
	p := curProc()
	pp := pr(p)
	pp.faults++
	fsc := esr & 0x3f
	if fsc == 0x21 { // alignment fault
		forceSignal(tf, sigBUS, busAdrerr, far, esr)
		return
	}
	if !isTranslationFault(esr) && !isPermissionFault(esr) && esr&0x3c != 0x08 {
		forceSignal(tf, sigBUS, busAdrerr, far, esr)
		return
	}
	acc := dataAccess(esr)
	switch space(p).Fault(far, acc) {
	case mm.FaultMapped:
		if acc == mm.AccessExec {
			SyncICache()
		}
		stats.UserFaults++
	case mm.FaultSpurious:
		invalidate(int(pp.asOwner), far&^(pageSize-1), pageSize)
	case mm.FaultSegvMapErr:
		forceSignal(tf, sigSEGV, segvMaperr, far, esr)
	case mm.FaultSegvAccErr:
		forceSignal(tf, sigSEGV, segvAccerr, far, esr)
	case mm.FaultLimit:
		killProcessFault(p, sigKILL, "out of memory: reached its limit of ", uint64(space(p).Limit)*pageSize>>20, tf.PC, far)
	default:
		killProcessFault(p, sigKILL, "out of memory: no free page; RAM in use by it (MiB) ", space(p).OwnedPages()*pageSize>>20, tf.PC, far)
	}
}

// userException turns any other synchronous exception from EL0 into its
// signal.
func userException(tf *Frame, esr, far uint64) {
	switch esr >> 26 {
	case ecBRK:
		forceSignal(tf, sigTRAP, trapBrkpt, tf.PC, esr)
	case ecPCAlign, ecSPAlign:
		forceSignal(tf, sigBUS, busAdrerr, far, esr)
	case ecFPException:
		forceSignal(tf, sigFPE, 0, tf.PC, esr)
	default: // undefined instruction, trapped system register access...
		forceSignal(tf, sigILL, illIllopc, tf.PC, esr)
	}
}

// forceSignal delivers a synchronous signal for the instruction that
// faulted, or ends the process if it cannot take it (no handler, blocked,
// or no room for the frame), as Linux does.
func forceSignal(tf *Frame, sig uint64, code int32, addr, esr uint64) {
	t := th(cur)
	p := int(t.proc)
	if t.sigs.mask&sigBit(sig) == 0 && pushSignal(tf, sig, code, addr) {
		stats.FaultsRaised++
		return
	}
	killProcessFault(p, sig, "", 0, tf.PC, addr)
}

// killProcess ends process p by signal sig with one line on the console:
// "killed by SIGNAME", then " (reason)" when reason is not empty.
func killProcess(p int, sig uint64, reason string) {
	pp := pr(p)
	if pp.state != psLive {
		return
	}
	putKilled(pp, sig)
	if reason != "" {
		puts(" (")
		puts(reason)
		puts(")")
	}
	puts("\n")
	exitProcess(p, uint32(sig), true)
}

// putKilled starts a kill line: "armos: process NAME (pid N) killed by SIG".
func putKilled(pp *process, sig uint64) {
	kmsgStart()
	puts("armos: process ")
	putName(pp)
	puts(" (pid ")
	putDec(uint64(pp.pid))
	puts(") killed by ")
	puts(sigName(sig))
}

// killProcessFault is killProcess for a fault: "SIGSEGV at pc X addr Y",
// with reason and a number first when given.
func killProcessFault(p int, sig uint64, reason string, n uint64, pc, addr uint64) {
	pp := pr(p)
	if pp.state != psLive {
		return
	}
	putKilled(pp, sig)
	if reason != "" {
		puts(" (")
		puts(reason)
		putDec(n)
		puts(" MiB)")
	}
	puts(" at pc ")
	putHex(pc)
	puts(" addr ")
	putHex(addr)
	puts("\n")
	exitProcess(p, uint32(sig), true)
}

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
			armedAt = 0
			stats.TimerIRQs++
		} else if id == consoleIn.intid && id != 0 {
			consoleRX()
		} else {
			stats.OtherIRQs++
			deviceIRQ(id)
		}
		arch.GICEOI(id)
	}
}

// finishTrap wakes threads whose deadline passed, switches threads if the
// running one blocked, yielded or used up its quantum, delivers pending
// signals and arms the timer for the next event. After a switch the
// registers to resume are where schedule says (curFrame on the machine).
func finishTrap(tf *Frame) {
	schedDirty = false
	t := now()
	if heapN > 0 && hkey[0] <= t {
		expire(t)
	}
	if reschedule || cur == idle || (sliceEnd != 0 && t >= sliceEnd) {
		tf = schedule(tf, t)
	} else if sliceEnd == 0 {
		startSlice(t)
	}
	// A signal whose action ends the process switches to another thread,
	// whose own pending signals are delivered too (in the same loop): else
	// it would return to user mode with them pending, and a thread
	// interrupted for one (woken from a futex wait with EINTR) would go
	// back to sleep without its handler having run, until something else
	// woke it.
	for cur != idle && signalsPending(cur) {
		deliverSignals(tf)
		if !reschedule {
			break
		}
		tf = schedule(tf, t) // the signal ended the process
	}
	if ev := nextEvent(); ev != armedAt {
		if ev != 0 {
			arch.ArmTimer(ev)
		} else {
			arch.DisarmTimer()
		}
		armedAt = ev
	}
}

// funcName names the function whose code starts at pc.
func funcName(pc uintptr) string {
	if f := goruntime.FuncForPC(pc); f != nil {
		return f.Name()
	}
	return "unknown function"
}
