package rt

import "armos/microkernel/internal/arch"

// Kernel faults and the end of the kernel. A fault the kernel cannot serve
// prints its cause and registers, then either becomes a Go panic (a SIGSEGV
// frame for the runtime, which prints a goroutine traceback and exits) or,
// when that is impossible, powers off. Every fatal path prints FailMarker
// so that host tests see the failure.

// FailMarker starts the console line that tells a host test the kernel died.
const FailMarker = "ARMOS-FAIL"

// ecNames names the exception classes a kernel fault can have.
//
//go:nosplit
func ecName(ec uint64) string {
	switch ec {
	case ecUnknown:
		return "undefined instruction"
	case ecFPAccess:
		return "FP/SIMD access trap"
	case ecSysReg:
		return "system register access trap"
	case ecInstAbortSame, ecInstAbortLow:
		return "instruction abort"
	case ecPCAlign:
		return "PC alignment fault"
	case ecDataAbortSame, ecDataAbortLow:
		return "data abort"
	case ecSPAlign:
		return "SP alignment fault"
	case ecBRK:
		return "breakpoint (BRK)"
	case ecSVC64:
		return "SVC"
	}
	return "unexpected exception class"
}

// faultStatusName decodes the DFSC/IFSC field of an abort's ESR (Arm ARM,
// "ISS encoding for an exception from a Data Abort").
//
//go:nosplit
func faultStatusName(fsc uint64) string {
	switch fsc & 0x3c {
	case 0x00:
		return "address size fault"
	case 0x04:
		return "translation fault"
	case 0x08:
		return "access flag fault"
	case 0x0c:
		return "permission fault"
	}
	switch fsc {
	case 0x10:
		return "synchronous external abort"
	case 0x21:
		return "alignment fault"
	}
	return "other fault status"
}

// dumpRegs prints the state of a faulting thread.
//
//go:nosplit
func dumpRegs(tf *Frame, esr, far uint64) {
	puts("  ESR ")
	putHex(esr)
	puts(" (EC ")
	putHex(esr >> 26)
	puts(": ")
	puts(ecName(esr >> 26))
	if ec := esr >> 26; ec == ecDataAbortSame || ec == ecDataAbortLow || ec == ecInstAbortSame {
		puts(", ")
		puts(faultStatusName(esr & 0x3f))
		if ec != ecInstAbortSame && esr&(1<<6) != 0 { // ISS.WnR
			puts(", write")
		} else if ec != ecInstAbortSame {
			puts(", read")
		}
	}
	puts(")\n  FAR ")
	putHex(far)
	puts("  ELR ")
	putHex(tf.PC)
	puts("\n  SP  ")
	putHex(tf.SP)
	puts("  SPSR ")
	putHex(tf.PSTATE)
	puts("  tid ")
	if cur != idle {
		putDec(uint64(th(cur).tid))
		puts(" (")
		putName(pr(curProc()))
		puts(")")
	} else {
		puts("idle")
	}
	for i := 0; i < 31; i++ {
		if i%4 == 0 {
			puts("\n ")
		}
		puts(" x")
		putDec(uint64(i))
		if i < 10 {
			puts(" ")
		}
		puts(" ")
		putHex(tf.X[i])
	}
	puts("\n")
}

// syncFault handles a synchronous exception the kernel cannot serve. If the
// runtime has a handler it becomes a signal (SIGSEGV for a data abort): the
// runtime turns it into a panic, which is either recovered or printed with
// a goroutine traceback before the runtime exits (exit_group(2): see
// exitKernel). Otherwise syncFault prints the cause and registers and
// powers off.
//
//go:nosplit
func syncFault(tf *Frame, esr, far uint64) {
	if cur != idle {
		lastRaised.regs = *tf // before raiseFault points tf at the handler
		if raiseFault(tf, esr, far) {
			stats.FaultsRaised++
			lastRaised.esr, lastRaised.far, lastRaised.tid = esr, far, th(cur).tid
			return
		}
	}
	kmsgStart()
	puts("\narmos: kernel fault: ")
	puts(ecName(esr >> 26))
	puts("\n")
	dumpRegs(tf, esr, far)
	puts(FailMarker)
	puts(" kernel fault\n")
	powerOff()
}

// raisedFault is a kernel fault handed to the runtime as a signal, kept so
// that the kernel can still print the exception if the resulting Go panic
// is not recovered (exitKernel).
type raisedFault struct {
	regs     Frame // the registers at the fault
	esr, far uint64
	tid      int32 // 0: none yet
}

var lastRaised raisedFault

// goPanicStatus is the exit status of a Go program that died of an
// unrecovered panic or fatal signal.
const goPanicStatus = 2

// outOfMemory stops the kernel when a demand-zero fault finds no page.
//
//go:nosplit
func outOfMemory(tf *Frame, far uint64) {
	puts("\narmos: out of physical memory at ")
	putHex(far)
	puts(" (")
	putDec(physPages.Stats().Used)
	puts(" pages in use)\n")
	puts(FailMarker)
	puts(" out of memory\n")
	powerOff()
}

// fatalTrap handles exceptions that must never happen: FIQ, SError, a fault
// in trap context itself, or an exception from EL0.
//
//go:nosplit
func fatalTrap(tf *Frame, kind uint64) {
	kmsgStart()
	puts("\narmos: fatal exception, kind ")
	putDec(kind)
	if kind == kindNested {
		puts(" (fault inside trap code")
		if far := arch.FAR(); far >= uint64(excGuard) && far < uint64(excGuard)+pageSize {
			puts(": exception stack overflow into its guard page")
		}
		puts(")")
	}
	puts("\n")
	dumpRegs(tf, arch.ESR(), arch.FAR())
	puts(FailMarker)
	puts(" fatal exception\n")
	powerOff()
}

// exitKernel ends the kernel with a status, as exit_group does: 0 is a
// clean shutdown, anything else (the runtime exits with 2 after an
// unrecovered panic) is reported as a failure.
//
//go:nosplit
func exitKernel(code int) {
	if code == goPanicStatus && lastRaised.tid != 0 {
		// The runtime has printed the panic and the goroutine traceback;
		// add the exception it most likely came from. (Not only when the
		// exiting thread is the one that faulted: the panicking goroutine
		// may have moved to another thread before the runtime exits.)
		puts("armos: last fault raised as a signal, on thread ")
		putDec(uint64(lastRaised.tid))
		puts(": ")
		puts(ecName(lastRaised.esr >> 26))
		puts("\n")
		dumpRegs(&lastRaised.regs, lastRaised.esr, lastRaised.far)
	}
	if code != 0 {
		puts("armos: exit status ")
		putDec(uint64(code))
		puts("\n")
		puts(FailMarker)
		puts(" exit\n")
	} else {
		puts("armos: power off\n")
	}
	powerOff()
}

// powerOff asks PSCI to turn the machine off, and waits forever if that
// fails.
//
//go:nosplit
func powerOff() {
	arch.PSCI(arch.PSCISystemOff)
	for {
		arch.WaitForInterrupt()
	}
}

// PowerOff ends the kernel; code is its exit status (see exitKernel).
func PowerOff(code int) { exitKernel(code) }
