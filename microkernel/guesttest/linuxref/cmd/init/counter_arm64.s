//go:build linux

#include "textflag.h"

// func counter() (count, freq uint64)
// Clobbers R0, R1.
TEXT ·counter(SB), NOSPLIT, $0-16
	ISB	$15
	MRS	CNTVCT_EL0, R0
	MRS	CNTFRQ_EL0, R1
	MOVD	R0, count+0(FP)
	MOVD	R1, freq+8(FP)
	RET
