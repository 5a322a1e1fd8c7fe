#include "textflag.h"

// func copyWide(dst, src unsafe.Pointer, n uintptr)
// Copies n bytes (a multiple of 64, at least 64) from src to dst, which
// do not overlap, 64 bytes per iteration in four 128-bit register pairs.
// The kernel may use the SIMD registers: every trap frame saves and
// restores all of them. Clobbers: R0, R1, R2, F0-F3.
TEXT ·copyWide(SB),NOSPLIT,$0-24
	MOVD	dst+0(FP), R0
	MOVD	src+8(FP), R1
	MOVD	n+16(FP), R2
loop:
	FLDPQ.P	32(R1), (F0, F1)
	FLDPQ.P	32(R1), (F2, F3)
	SUBS	$64, R2, R2
	FSTPQ.P	(F0, F1), 32(R0)
	FSTPQ.P	(F2, F3), 32(R0)
	BNE	loop
	RET
