package rt

// Frame is the register state of a kernel thread: what the exception vector
// saves on entry (vectors_arm64.s) and restores on ERET. Its layout is fixed
// by frame.h; frame_test.go keeps the two in step.
//
// A Frame holds no Go pointers (every field is an integer), so trap-level
// code may copy Frames around without write barriers.
type Frame struct {
	X      [31]uint64 // X0..X30, all of them (user code may use X18)
	SP     uint64     // SP_EL0: the thread's stack pointer
	PC     uint64     // ELR_EL1: where ERET resumes
	PSTATE uint64     // SPSR_EL1: the thread's PSTATE (mode EL1t, DAIF)
	FPSR   uint64
	FPCR   uint64
	Q      [32][2]uint64 // V0..V31, 128 bits each
}

// PSTATE values (Arm ARM, "SPSR_EL1"): M[3:0] selects the mode.
const (
	pstateEL0t = 0x0 // EL0: user threads
	pstateEL1t = 0x4 // EL1 using SP_EL0: where the kernel's Go code runs
	pstateEL1h = 0x5 // EL1 using SP_EL1: trap context
	pstateI    = 1 << 7
	pstateF    = 1 << 6
	pstatePAN  = 1 << 22
)

// pstateKernel is the PSTATE a kernel thread resumes with: EL1t, plus PAN
// when the CPU has it (early.go).
var pstateKernel uint64 = pstateEL1t

// panEnabled reports whether Privileged Access Never is on.
var panEnabled bool

// Argument and result registers of the Linux arm64 system call convention.
const (
	regSyscallNo = 8 // X8 holds the system call number
	regLR        = 30
)

// pstateUserMask is what a thread may choose of its PSTATE (rt_sigreturn):
// the condition flags N, Z, C, V.
const pstateUserMask = 0xf0000000
