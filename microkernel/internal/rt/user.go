package rt

import (
	gosys "syscall"
	"unsafe"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// EL0: running user threads (DESIGN.md section 3, "User threads").
//
// A user thread is served by a kernel goroutine that loops "EnterUser, then
// handle what stopped it". EnterUser is a system call of the kernel's own
// runtime (number sysEnterUser, outside the Linux range): the trap layer
// parks the calling kernel thread's registers in the UserContext, loads the
// user registers into the trap frame and ERETs to EL0 with the process's
// TTBR0 (root | ASID << 48). The first exception from EL0, whatever it is
// (SVC, fault, interrupt), puts the user registers back into the
// UserContext, switches TTBR0 back to the kernel's table and returns from
// EnterUser. To the kernel's Go runtime the call is an ordinary blocking
// system call, so the goroutine's P is free for others meanwhile.
//
// A process's table maps [1 GiB, 4 GiB) like the kernel's boot map (EL1
// only, global: the vectors, the kernel image and the exception stack, which
// the trap path touches before it switches TTBR0 back). The kernel's Go heap
// is NOT mapped in it: the trap path switches to the kernel's table before
// it touches anything outside the image. Because the kernel heap's pages are
// global and may sit at addresses the process also uses, entering EL0
// invalidates the local TLB (TLBI VMALLE1).

// sysEnterUser is EnterUser's system call number (beyond every Linux number).
const sysEnterUser = 0xa000

// Why EnterUser returned (UserContext.Trap).
const (
	TrapSVC   = 1 // SVC from EL0: system call number in Regs.X[8]
	TrapAbort = 2 // instruction or data abort: ESR, FAR say which
	TrapIRQ   = 3 // an interrupt (already handled); just enter again
	TrapOther = 4 // any other exception (ESR says which)
)

// UserContext is one user thread's state. It must not move while the
// thread is in EnterUser (the trap layer keeps its address): allocate it
// with new and keep it referenced.
type UserContext struct {
	Regs Frame  // user registers: X, SP (SP_EL0), PC (ELR), PSTATE, FP/SIMD
	TTBR uint64 // the process's TTBR0_EL1 value
	TLS  uint64 // TPIDR_EL0
	Trap uint64 // why EnterUser returned (Trap*)
	ESR  uint64 // ESR_EL1 of the exception
	FAR  uint64 // FAR_EL1 of an abort

	kernel Frame // the kernel thread's registers while at EL0
}

// PSTATE bits a user thread may set: the condition flags N, Z, C, V.
const pstateUserMask = 0xf0000000

// kernelTTBR is the kernel's TTBR0 value (ASID 0); curTTBR what TTBR0 holds.
var curTTBR uint64

// EnterUser runs uc at EL0 until the next exception and fills uc.Trap,
// uc.ESR and uc.FAR with what stopped it.
func EnterUser(uc *UserContext) {
	gosys.Syscall(sysEnterUser, uintptr(unsafe.Pointer(uc)), 0, 0)
}

// PhysPages returns the kernel's physical page allocator. Callers outside
// trap context must call it only inside WithIRQsOff.
func PhysPages() *mm.PhysMem { return &physPages }

// WithIRQsOff runs fn with interrupts masked, so it cannot race with trap
// code using the page allocator. fn must not block, and the memory it
// touches must already be mapped (no demand-zero fault may run inside it).
func WithIRQsOff(fn func()) {
	touchStack()
	d := maskIRQ()
	fn()
	restoreIRQ(d)
}

// touchStack faults in the next 16 KiB of the goroutine stack, so nosplit
// mm code called by WithIRQsOff never takes a demand-zero fault.
//
//go:noinline
func touchStack() {
	var b [16 << 10]byte
	for i := 0; i < len(b); i += pageSize {
		b[i] = 1
	}
	stackSink = b[len(b)-1]
}

var stackSink byte

// enterUser is sysEnterUser's handler: it swaps the kernel thread's frame
// for the user's and records the user TTBR0 for syncTTBR.
//
//go:nosplit
func enterUser(tf *Frame) {
	// userMem faults in every page of the context now: leaveUser must not
	// take a demand-zero fault on it.
	uc := (*UserContext)(userMem(uintptr(tf.X[0]), unsafe.Sizeof(UserContext{})))
	if uc == nil || uc.TTBR == 0 {
		tf.X[0] = errno(EINVAL)
		return
	}
	uc.kernel = *tf
	uc.kernel.X[0] = 0
	*tf = uc.Regs
	tf.PSTATE = uc.Regs.PSTATE & pstateUserMask // EL0t, interrupts enabled
	setTPIDR0(uc.TLS)
	t := &threads[cur]
	t.user = uintptr(unsafe.Pointer(uc))
	t.userTTBR = uc.TTBR
	stats.UserEntries++
}

// leaveUser handles any exception taken from EL0: back to the kernel's
// table, user registers into the UserContext, the kernel thread's registers
// into tf. It reports false if the running thread was not at EL0.
//
//go:nosplit
func leaveUser(tf *Frame, trap uint64, esr, far uint64) bool {
	if curTTBR != 0 {
		setTTBR0(kernelL0)
		curTTBR = 0
	}
	t := &threads[cur]
	if t.user == 0 {
		return false
	}
	uc := (*UserContext)(ptrOf(t.user))
	uc.Regs = *tf
	uc.TLS = getTPIDR0()
	uc.Trap, uc.ESR, uc.FAR = trap, esr, far
	*tf = uc.kernel
	t.user, t.userTTBR = 0, 0
	return true
}

// lowerTrap is trap's path for synchronous exceptions from EL0. It reports
// false when the exception cannot have come from a user thread (fatal).
//
//go:nosplit
func lowerTrap(tf *Frame) bool {
	if tf.PSTATE&0xf != 0 { // not from EL0t
		return false
	}
	esr := arch.ESR()
	switch esr >> 26 {
	case ecSVC64:
		return leaveUser(tf, TrapSVC, esr, 0)
	case ecInstAbortLow, ecDataAbortLow:
		return leaveUser(tf, TrapAbort, esr, arch.FAR())
	}
	return leaveUser(tf, TrapOther, esr, arch.FAR())
}

// syncTTBR makes TTBR0 match the thread about to run: the process's table
// for a thread entering EL0, the kernel's otherwise.
//
//go:nosplit
func syncTTBR() {
	want := uint64(0)
	if cur != idle {
		want = threads[cur].userTTBR
	}
	if want == curTTBR {
		return
	}
	if want == 0 {
		setTTBR0(kernelL0)
	} else {
		setTTBR0(uintptr(want))
		arch.FlushTLB()
	}
	curTTBR = want
}

// KernelWindow maps into pt what every address space needs at EL1: the boot
// map's RAM, [1 GiB, 4 GiB), as global EL1-only blocks.
func KernelWindow(pt *mm.PageTable) mm.Errno {
	return pt.MapRange(1<<30, 1<<30, 3<<30, mm.KernelRWX, true)
}
