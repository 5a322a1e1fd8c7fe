#include "textflag.h"

// func setTTBR0(v uintptr)
// Clobbers: R0.
TEXT ·setTTBR0(SB),NOSPLIT,$0-8
	MOVD	v+0(FP), R0
	DSB	$0xb
	MSR	R0, TTBR0_EL1
	ISB	$15
	RET

// func getTPIDR0() uint64
// Clobbers: R0.
TEXT ·getTPIDR0(SB),NOSPLIT,$0-8
	MRS	TPIDR_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func setTPIDR0(v uint64)
// Clobbers: R0.
TEXT ·setTPIDR0(SB),NOSPLIT,$0-8
	MOVD	v+0(FP), R0
	MSR	R0, TPIDR_EL0
	RET

// func maskIRQ() uint64
// Clobbers: R0.
TEXT ·maskIRQ(SB),NOSPLIT,$0-8
	MRS	DAIF, R0
	MSR	$2, DAIFSet
	MOVD	R0, ret+0(FP)
	RET

// func restoreIRQ(daif uint64)
// Clobbers: R0.
TEXT ·restoreIRQ(SB),NOSPLIT,$0-8
	MOVD	daif+0(FP), R0
	MSR	R0, DAIF
	RET

// func SyncICache()
// Clobbers: nothing.
TEXT ·SyncICache(SB),NOSPLIT,$0-0
	DSB	$0xb
	WORD	$0xd508711f	// IC IALLUIS
	DSB	$0xb
	ISB	$15
	RET

// func preemptPending() bool
// Reports whether the Go runtime has asked the calling goroutine to stop at
// its next function prologue: g.stackguard0 (offset 16) holds stackPreempt
// (runtime/stack.go: uintptrMask & -1314). docs/boot.md §8 lists this
// reliance on runtime internals. Clobbers: R0, R1.
TEXT ·preemptPending(SB),NOSPLIT,$0-1
	MOVD	16(g), R0
	MOVD	$0xfffffffffffffade, R1
	CMP	R0, R1
	CSET	EQ, R0
	MOVB	R0, ret+0(FP)
	RET

// func touchStack()
// A 16 KiB frame (touchStackBytes): the prologue the assembler adds grows
// the goroutine's stack as a Go function with that frame would; then one
// load in each 4 KiB of the frame faults in any page not present yet (a
// read of the kernel heap maps a zeroed page for good). Clobbers: R0.
TEXT ·touchStack(SB),$16384-0
	MOVD	8(RSP), R0
	MOVD	4096(RSP), R0
	MOVD	8192(RSP), R0
	MOVD	12288(RSP), R0
	MOVD	16384(RSP), R0
	RET
