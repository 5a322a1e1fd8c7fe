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

// SUB_FRAME and ADD_FRAME move SP_EL1 by FRAME_SIZE (800) as raw
// instructions: the linker's nosplit analysis would otherwise count the
// trap frame against the goroutine stack limit, but this is the exception
// stack, which trap code owns.
#define SUB_FRAME	WORD	$0xd10c83ff	// SUB SP, SP, #800
#define ADD_FRAME	WORD	$0x910c83ff	// ADD SP, SP, #800

#define ENTRY(kind) \
	PCALIGN	$128; \
	SUB_FRAME; \
	STP	(R0, R1), (FRAME_X0+0)(RSP); \
	MOVD	$kind, R0; \
	B	·trapCommon(SB)

// NESTED_ENTRY is the entry for exceptions taken in trap context itself
// (on SP_EL1), which are always fatal. It first moves SP_EL1 to the
// emergency stack, so that an overflow of the exception stack into its
// guard page (whose own fault would otherwise recurse) still reaches the
// fault report. X0 is parked in TPIDR_EL1 (unused by armos) meanwhile.
#define NESTED_ENTRY \
	PCALIGN	$128; \
	MSR	R0, TPIDR_EL1; \
	MOVD	$·nestStack+NEST_STACK_SIZE(SB), R0; \
	MOVD	R0, RSP; \
	MRS	TPIDR_EL1, R0; \
	SUB_FRAME; \
	STP	(R0, R1), (FRAME_X0+0)(RSP); \
	MOVD	$KIND_NESTED, R0; \
	B	·trapCommon(SB)

// func vectors()
// The table itself (VBAR_EL1 points here); never called. Each entry
// clobbers SP_EL1 (by FRAME_SIZE) after saving X0/X1, then R0 = kind.
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
// trapCommon saves the interrupted thread into the Frame at RSP (X0/X1 are
// already there, R0 holds the kind), calls trap(kind, frame) with g = trapG,
// then restores whatever Frame trap left there (possibly another thread's)
// and returns with ERET.
// Clobbers: nothing visible to the resumed thread.
TEXT ·trapCommon(SB),NOSPLIT|NOFRAME,$0
	STP	(R2, R3), (FRAME_X0+16)(RSP)
	STP	(R4, R5), (FRAME_X0+32)(RSP)
	STP	(R6, R7), (FRAME_X0+48)(RSP)
	STP	(R8, R9), (FRAME_X0+64)(RSP)
	STP	(R10, R11), (FRAME_X0+80)(RSP)
	STP	(R12, R13), (FRAME_X0+96)(RSP)
	STP	(R14, R15), (FRAME_X0+112)(RSP)
	STP	(R16, R17), (FRAME_X0+128)(RSP)
	STP	(R18_PLATFORM, R19), (FRAME_X0+144)(RSP)
	STP	(R20, R21), (FRAME_X0+160)(RSP)
	STP	(R22, R23), (FRAME_X0+176)(RSP)
	STP	(R24, R25), (FRAME_X0+192)(RSP)
	STP	(R26, R27), (FRAME_X0+208)(RSP)
	STP	(g, R29), (FRAME_X0+224)(RSP)
	MOVD	R30, (FRAME_X0+240)(RSP)
	MRS	SP_EL0, R1
	MOVD	R1, FRAME_SP(RSP)
	MRS	ELR_EL1, R1
	MRS	SPSR_EL1, R2
	STP	(R1, R2), FRAME_PC(RSP)
	MRS	FPSR, R1
	MRS	FPCR, R2
	STP	(R1, R2), FRAME_FPSR(RSP)
	FSTPQ	(F0, F1), (FRAME_Q0+0)(RSP)
	FSTPQ	(F2, F3), (FRAME_Q0+32)(RSP)
	FSTPQ	(F4, F5), (FRAME_Q0+64)(RSP)
	FSTPQ	(F6, F7), (FRAME_Q0+96)(RSP)
	FSTPQ	(F8, F9), (FRAME_Q0+128)(RSP)
	FSTPQ	(F10, F11), (FRAME_Q0+160)(RSP)
	FSTPQ	(F12, F13), (FRAME_Q0+192)(RSP)
	FSTPQ	(F14, F15), (FRAME_Q0+224)(RSP)
	FSTPQ	(F16, F17), (FRAME_Q0+256)(RSP)
	FSTPQ	(F18, F19), (FRAME_Q0+288)(RSP)
	FSTPQ	(F20, F21), (FRAME_Q0+320)(RSP)
	FSTPQ	(F22, F23), (FRAME_Q0+352)(RSP)
	FSTPQ	(F24, F25), (FRAME_Q0+384)(RSP)
	FSTPQ	(F26, F27), (FRAME_Q0+416)(RSP)
	FSTPQ	(F28, F29), (FRAME_Q0+448)(RSP)
	FSTPQ	(F30, F31), (FRAME_Q0+480)(RSP)

	MOVD	RSP, R1
	MOVD	$·trapG(SB), g
	SUB	$32, RSP
	MOVD	R0, 8(RSP)
	MOVD	R1, 16(RSP)
	BL	·trap(SB)
	ADD	$32, RSP

	FLDPQ	(FRAME_Q0+0)(RSP), (F0, F1)
	FLDPQ	(FRAME_Q0+32)(RSP), (F2, F3)
	FLDPQ	(FRAME_Q0+64)(RSP), (F4, F5)
	FLDPQ	(FRAME_Q0+96)(RSP), (F6, F7)
	FLDPQ	(FRAME_Q0+128)(RSP), (F8, F9)
	FLDPQ	(FRAME_Q0+160)(RSP), (F10, F11)
	FLDPQ	(FRAME_Q0+192)(RSP), (F12, F13)
	FLDPQ	(FRAME_Q0+224)(RSP), (F14, F15)
	FLDPQ	(FRAME_Q0+256)(RSP), (F16, F17)
	FLDPQ	(FRAME_Q0+288)(RSP), (F18, F19)
	FLDPQ	(FRAME_Q0+320)(RSP), (F20, F21)
	FLDPQ	(FRAME_Q0+352)(RSP), (F22, F23)
	FLDPQ	(FRAME_Q0+384)(RSP), (F24, F25)
	FLDPQ	(FRAME_Q0+416)(RSP), (F26, F27)
	FLDPQ	(FRAME_Q0+448)(RSP), (F28, F29)
	FLDPQ	(FRAME_Q0+480)(RSP), (F30, F31)
	LDP	FRAME_FPSR(RSP), (R1, R2)
	MSR	R1, FPSR
	MSR	R2, FPCR
	LDP	FRAME_PC(RSP), (R1, R2)
	MSR	R1, ELR_EL1
	MSR	R2, SPSR_EL1
	MOVD	FRAME_SP(RSP), R1
	MSR	R1, SP_EL0
	LDP	(FRAME_X0+16)(RSP), (R2, R3)
	LDP	(FRAME_X0+32)(RSP), (R4, R5)
	LDP	(FRAME_X0+48)(RSP), (R6, R7)
	LDP	(FRAME_X0+64)(RSP), (R8, R9)
	LDP	(FRAME_X0+80)(RSP), (R10, R11)
	LDP	(FRAME_X0+96)(RSP), (R12, R13)
	LDP	(FRAME_X0+112)(RSP), (R14, R15)
	LDP	(FRAME_X0+128)(RSP), (R16, R17)
	LDP	(FRAME_X0+144)(RSP), (R18_PLATFORM, R19)
	LDP	(FRAME_X0+160)(RSP), (R20, R21)
	LDP	(FRAME_X0+176)(RSP), (R22, R23)
	LDP	(FRAME_X0+192)(RSP), (R24, R25)
	LDP	(FRAME_X0+208)(RSP), (R26, R27)
	LDP	(FRAME_X0+224)(RSP), (g, R29)
	MOVD	(FRAME_X0+240)(RSP), R30
	LDP	(FRAME_X0+0)(RSP), (R0, R1)
	ADD_FRAME
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
