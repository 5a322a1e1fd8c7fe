#include "textflag.h"

// func Write16(addr uintptr, v uint16)
// Clobbers: R0, R1.
TEXT ·Write16(SB),NOSPLIT,$0-10
	MOVD	addr+0(FP), R0
	MOVHU	v+8(FP), R1
	MOVH	R1, (R0)
	RET

// func DMAWriteBarrier()
// Clobbers: nothing.
TEXT ·DMAWriteBarrier(SB),NOSPLIT,$0-0
	DSB	$0xe	// ST: full system, stores
	RET

// func DMAReadBarrier()
// Clobbers: nothing.
TEXT ·DMAReadBarrier(SB),NOSPLIT,$0-0
	DSB	$0xd	// LD: full system, loads
	RET
