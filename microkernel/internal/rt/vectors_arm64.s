#include "textflag.h"
#include "frame.h"

// Exception vector table (Arm ARM D1.10.2, "Exception vectors"): 16 entries
// of 128 bytes, 2 KiB aligned. The kernel's Go code runs at EL1 on SP_EL0,
// so its SVCs, faults and interrupts arrive at the "current EL with SP0"
// entries; an exception taken while in trap context (SP_EL1) is a kernel bug.

#define KIND_SYNC	0
#define KIND_IRQ	1
#define KIND_FIQ	2
#define KIND_SERROR	3
#define KIND_NESTED	4	// anything taken on SP_EL1: fatal
#define KIND_LOWER	5	// from EL0: synchronous, FIQ, SError (user.go)
#define KIND_LOWER_IRQ	6	// from EL0: IRQ

#define NEST_STACK_SIZE	8192	// nestStackSize in early.go

// PUSH16 and POP16 move SP_EL1 by 16 as raw instructions, as the stack
// of a NOFRAME function that returns by ERET is no concern of the
// assembler's SP tracking or the linker's nosplit analysis.
#define PUSH16	WORD	$0xd10043ff	// SUB SP, SP, #16
#define POP16	WORD	$0x910043ff	// ADD SP, SP, #16

// Each entry pushes X0/X1 (16 bytes) on SP_EL1, the exception stack, and
// goes to trapCommon with R0 = kind; trapCommon saves the rest of the
// interrupted thread's registers straight into its Frame (curFrame), so a
// thread switch is a change of curFrame, not a copy of Frames.
#define ENTRY(kind) \
	PCALIGN	$128; \
	PUSH16; \
	STP	(R0, R1), (RSP); \
	MOVD	$kind, R0; \
	B	·trapCommon(SB)

// NESTED_ENTRY is the entry for exceptions taken in trap context itself
// (on SP_EL1), which are always fatal. It first moves SP_EL1 to the
// emergency stack, so that an overflow of the exception stack into its
// guard page (whose own fault would otherwise recurse) still reaches the
// fault report. X0 is parked in TPIDR_EL1 (unused by armos) meanwhile.
// (trapCommon then saves the registers over the running thread's Frame:
// the kernel stops anyway.)
#define NESTED_ENTRY \
	PCALIGN	$128; \
	MSR	R0, TPIDR_EL1; \
	MOVD	$·nestStack+NEST_STACK_SIZE(SB), R0; \
	MOVD	R0, RSP; \
	MRS	TPIDR_EL1, R0; \
	PUSH16; \
	STP	(R0, R1), (RSP); \
	MOVD	$KIND_NESTED, R0; \
	B	·trapCommon(SB)

// func vectors()
// The table itself (VBAR_EL1 points here); never called. Each entry
// moves SP_EL1 down by 16 after saving X0/X1 there, then R0 = kind.
TEXT ·vectors(SB),NOSPLIT|NOFRAME,$0
	PCALIGN	$2048
	ENTRY(KIND_SYNC)	// current EL, SP0: synchronous
	ENTRY(KIND_IRQ)		// current EL, SP0: IRQ
	ENTRY(KIND_FIQ)
	ENTRY(KIND_SERROR)
	NESTED_ENTRY		// current EL, SPx
	NESTED_ENTRY
	NESTED_ENTRY
	NESTED_ENTRY
	ENTRY(KIND_LOWER)	// lower EL, AArch64
	ENTRY(KIND_LOWER_IRQ)
	ENTRY(KIND_LOWER)
	ENTRY(KIND_LOWER)
	ENTRY(KIND_LOWER)	// lower EL, AArch32
	ENTRY(KIND_LOWER)
	ENTRY(KIND_LOWER)
	ENTRY(KIND_LOWER)

// func trapCommon()
// trapCommon saves the interrupted thread into the Frame at curFrame (X0/X1
// are on the exception stack, R0 holds the kind; of the FP/SIMD registers
// only V0-V3 and V16-V17, see trapfp.go), calls trap(kind, frame)
// with g = trapG on the exception stack, then restores the Frame at
// curFrame as trap left it (possibly another thread's) and returns with
// ERET. curFrame is read with R1 alone: "MOVD sym(SB)" would go through
// R27, not saved yet.
// Clobbers: nothing visible to the resumed thread.
TEXT ·trapCommon(SB),NOSPLIT|NOFRAME,$0
	MOVD	$·curFrame(SB), R1
	MOVD	(R1), R1
	STP	(R2, R3), (FRAME_X0+16)(R1)
	STP	(R4, R5), (FRAME_X0+32)(R1)
	STP	(R6, R7), (FRAME_X0+48)(R1)
	STP	(R8, R9), (FRAME_X0+64)(R1)
	STP	(R10, R11), (FRAME_X0+80)(R1)
	STP	(R12, R13), (FRAME_X0+96)(R1)
	STP	(R14, R15), (FRAME_X0+112)(R1)
	STP	(R16, R17), (FRAME_X0+128)(R1)
	STP	(R18_PLATFORM, R19), (FRAME_X0+144)(R1)
	STP	(R20, R21), (FRAME_X0+160)(R1)
	STP	(R22, R23), (FRAME_X0+176)(R1)
	STP	(R24, R25), (FRAME_X0+192)(R1)
	STP	(R26, R27), (FRAME_X0+208)(R1)
	STP	(g, R29), (FRAME_X0+224)(R1)
	MOVD	R30, (FRAME_X0+240)(R1)
	LDP	(RSP), (R2, R3)
	STP	(R2, R3), (FRAME_X0+0)(R1)
	MRS	SP_EL0, R2
	MOVD	R2, FRAME_SP(R1)
	MRS	ELR_EL1, R2
	MRS	SPSR_EL1, R3
	STP	(R2, R3), FRAME_PC(R1)
	MRS	FPSR, R2
	MRS	FPCR, R3
	STP	(R2, R3), FRAME_FPSR(R1)
	// Only the FP/SIMD registers trap code may change (trapfp.go): the
	// others stay in the CPU until another thread runs (fpSwitchTo).
	FSTPQ	(F0, F1), (FRAME_Q0+0)(R1)
	FSTPQ	(F2, F3), (FRAME_Q0+32)(R1)
	FSTPQ	(F16, F17), (FRAME_Q0+256)(R1)

	MOVD	$·trapG(SB), g
	SUB	$32, RSP
	MOVD	R0, 8(RSP)
	MOVD	R1, 16(RSP)
	BL	·trap(SB)
	ADD	$32, RSP
	POP16		// X0/X1 from the entry

	MOVD	$·curFrame(SB), R0
	MOVD	(R0), R0
	FLDPQ	(FRAME_Q0+0)(R0), (F0, F1)
	FLDPQ	(FRAME_Q0+32)(R0), (F2, F3)
	FLDPQ	(FRAME_Q0+256)(R0), (F16, F17)
	LDP	FRAME_FPSR(R0), (R1, R2)
	MSR	R1, FPSR
	MSR	R2, FPCR
	LDP	FRAME_PC(R0), (R1, R2)
	MSR	R1, ELR_EL1
	MSR	R2, SPSR_EL1
	MOVD	FRAME_SP(R0), R1
	MSR	R1, SP_EL0
	LDP	(FRAME_X0+16)(R0), (R2, R3)
	LDP	(FRAME_X0+32)(R0), (R4, R5)
	LDP	(FRAME_X0+48)(R0), (R6, R7)
	LDP	(FRAME_X0+64)(R0), (R8, R9)
	LDP	(FRAME_X0+80)(R0), (R10, R11)
	LDP	(FRAME_X0+96)(R0), (R12, R13)
	LDP	(FRAME_X0+112)(R0), (R14, R15)
	LDP	(FRAME_X0+128)(R0), (R16, R17)
	LDP	(FRAME_X0+144)(R0), (R18_PLATFORM, R19)
	LDP	(FRAME_X0+160)(R0), (R20, R21)
	LDP	(FRAME_X0+176)(R0), (R22, R23)
	LDP	(FRAME_X0+192)(R0), (R24, R25)
	LDP	(FRAME_X0+208)(R0), (R26, R27)
	LDP	(FRAME_X0+224)(R0), (g, R29)
	MOVD	(FRAME_X0+240)(R0), R30
	LDP	(FRAME_X0+0)(R0), (R0, R1)	// no writeback: the base may be a destination
	ERET

// func idleLoop()
// The idle context: runs at EL1t with interrupts enabled and waits for the
// next interrupt. Never returns. Clobbers: nothing.
TEXT ·idleLoop(SB),NOSPLIT|NOFRAME,$0
loop:
	DSB	$0xf
	WFI
	B	loop

// func sigreturnTrampoline()
// Where a signal handler returns to (the LR the kernel puts in a signal
// frame; arm64 Go leaves sa_restorer unset). Clobbers: R8 (then never returns).
TEXT ·sigreturnTrampoline(SB),NOSPLIT|NOFRAME,$0
again:
	MOVD	$139, R8	// rt_sigreturn
	SVC
	B	again

// func idleLoopPC() uintptr
// Clobbers: R0.
TEXT ·idleLoopPC(SB),NOSPLIT,$0-8
	MOVD	$·idleLoop(SB), R0
	MOVD	R0, ret+0(FP)
	RET

// func sigreturnPC() uintptr
// Clobbers: R0.
TEXT ·sigreturnPC(SB),NOSPLIT,$0-8
	MOVD	$·sigreturnTrampoline(SB), R0
	MOVD	R0, ret+0(FP)
	RET
