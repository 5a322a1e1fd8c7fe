#include "textflag.h"

// Sentinels for the registers the callee must preserve.
#define S19 $0x1919191919191919
#define S20 $0x2020202020202020
#define S21 $0x2121212121212121
#define S22 $0x2222222222222222
#define S23 $0x2323232323232323

// func Call(fn, a0, a1 uintptr) (r0 uintptr, clobbered uint64)
// Clobbers R0–R17 (the callee may), R19–R26, flags; LR is saved by the frame.
TEXT ·Call(SB), NOSPLIT, $16-40
	MOVD	fn+0(FP), R9
	MOVD	a0+8(FP), R0
	MOVD	a1+16(FP), R1
	MOVD	S19, R19
	MOVD	S20, R20
	MOVD	S21, R21
	MOVD	S22, R22
	MOVD	S23, R23
	MOVD	g, R24
	MOVD	RSP, R25
	MOVD	R29, R26
	BL	(R9)
	// R2 = OR of (found XOR expected); then store through RSP-relative
	// slots, which are only valid if SP survived (checked in R2).
	MOVD	S19, R3
	EOR	R3, R19, R2
	MOVD	S20, R3
	EOR	R3, R20, R3
	ORR	R3, R2, R2
	MOVD	S21, R3
	EOR	R3, R21, R3
	ORR	R3, R2, R2
	MOVD	S22, R3
	EOR	R3, R22, R3
	ORR	R3, R2, R2
	MOVD	S23, R3
	EOR	R3, R23, R3
	ORR	R3, R2, R2
	EOR	g, R24, R3
	ORR	R3, R2, R2
	EOR	R29, R26, R3
	ORR	R3, R2, R2
	MOVD	RSP, R3
	EOR	R3, R25, R3
	ORR	R3, R2, R2
	MOVD	R25, RSP
	MOVD	R26, R29
	MOVD	R24, g
	MOVD	R0, r0+24(FP)
	MOVD	R2, clobbered+32(FP)
	RET

// func CallFast(fn, a0, a1 uintptr) (r0 uintptr)
// Clobbers R0–R17 (the callee may), flags; LR is saved by the frame.
TEXT ·CallFast(SB), NOSPLIT, $16-32
	MOVD	fn+0(FP), R9
	MOVD	a0+8(FP), R0
	MOVD	a1+16(FP), R1
	BL	(R9)
	MOVD	R0, r0+24(FP)
	RET

// func Counter() uint64
// Clobbers R0.
TEXT ·Counter(SB), NOSPLIT|NOFRAME, $0-8
	ISB	$15
	MRS	CNTVCT_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func Frequency() uint64
// Clobbers R0.
TEXT ·Frequency(SB), NOSPLIT|NOFRAME, $0-8
	MRS	CNTFRQ_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func SyncICache(addr, n uintptr)
// Clobbers R0–R5, flags.
TEXT ·SyncICache(SB), NOSPLIT|NOFRAME, $0-16
	MOVD	addr+0(FP), R0
	MOVD	n+8(FP), R1
	ADD	R0, R1, R1		// R1 = end
	MRS	CTR_EL0, R2
	// D-cache line: 4 << CTR_EL0.DminLine (bits 19:16).
	UBFX	$16, R2, $4, R3
	MOVD	$4, R4
	LSL	R3, R4, R3
	SUB	$1, R3, R5
	BIC	R5, R0, R4		// R4 = addr rounded down to a D line
dloop:
	WORD	$0xd50b7b24		// DC CVAU, X4
	ADD	R3, R4, R4
	CMP	R1, R4
	BLO	dloop
	DSB	$0xb			// DSB ISH
	// I-cache line: 4 << CTR_EL0.IminLine (bits 3:0).
	AND	$15, R2, R3
	MOVD	$4, R4
	LSL	R3, R4, R3
	SUB	$1, R3, R5
	BIC	R5, R0, R4
iloop:
	WORD	$0xd50b7524		// IC IVAU, X4
	ADD	R3, R4, R4
	CMP	R1, R4
	BLO	iloop
	DSB	$0xb			// DSB ISH
	ISB	$15
	RET
