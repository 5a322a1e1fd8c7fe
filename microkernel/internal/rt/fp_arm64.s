#include "textflag.h"
#include "frame.h"

// The FP/SIMD registers that trap code leaves alone (V4-V15, V18-V31; see
// trapfp.go) move between the CPU and a thread's Frame only when the
// thread that owns them changes.

// func fpSaveRest(f *Frame)
// Stores V4-V15 and V18-V31 into f.Q. Clobbers: R0.
TEXT ·fpSaveRest(SB),NOSPLIT,$0-8
	MOVD	f+0(FP), R0
	FSTPQ	(F4, F5), (FRAME_Q0+64)(R0)
	FSTPQ	(F6, F7), (FRAME_Q0+96)(R0)
	FSTPQ	(F8, F9), (FRAME_Q0+128)(R0)
	FSTPQ	(F10, F11), (FRAME_Q0+160)(R0)
	FSTPQ	(F12, F13), (FRAME_Q0+192)(R0)
	FSTPQ	(F14, F15), (FRAME_Q0+224)(R0)
	FSTPQ	(F18, F19), (FRAME_Q0+288)(R0)
	FSTPQ	(F20, F21), (FRAME_Q0+320)(R0)
	FSTPQ	(F22, F23), (FRAME_Q0+352)(R0)
	FSTPQ	(F24, F25), (FRAME_Q0+384)(R0)
	FSTPQ	(F26, F27), (FRAME_Q0+416)(R0)
	FSTPQ	(F28, F29), (FRAME_Q0+448)(R0)
	FSTPQ	(F30, F31), (FRAME_Q0+480)(R0)
	RET

// func fpLoadRest(f *Frame)
// Loads V4-V15 and V18-V31 from f.Q. Clobbers: R0, V4-V15, V18-V31.
TEXT ·fpLoadRest(SB),NOSPLIT,$0-8
	MOVD	f+0(FP), R0
	FLDPQ	(FRAME_Q0+64)(R0), (F4, F5)
	FLDPQ	(FRAME_Q0+96)(R0), (F6, F7)
	FLDPQ	(FRAME_Q0+128)(R0), (F8, F9)
	FLDPQ	(FRAME_Q0+160)(R0), (F10, F11)
	FLDPQ	(FRAME_Q0+192)(R0), (F12, F13)
	FLDPQ	(FRAME_Q0+224)(R0), (F14, F15)
	FLDPQ	(FRAME_Q0+288)(R0), (F18, F19)
	FLDPQ	(FRAME_Q0+320)(R0), (F20, F21)
	FLDPQ	(FRAME_Q0+352)(R0), (F22, F23)
	FLDPQ	(FRAME_Q0+384)(R0), (F24, F25)
	FLDPQ	(FRAME_Q0+416)(R0), (F26, F27)
	FLDPQ	(FRAME_Q0+448)(R0), (F28, F29)
	FLDPQ	(FRAME_Q0+480)(R0), (F30, F31)
	RET

// func fpSwap(save, load *Frame)
// fpSaveRest(save) unless save is nil, then fpLoadRest(load), in one call
// (a thread switch). Clobbers: R0, R1, V4-V15, V18-V31.
TEXT ·fpSwap(SB),NOSPLIT,$0-16
	MOVD	save+0(FP), R0
	MOVD	load+8(FP), R1
	CBZ	R0, loadonly
	FSTPQ	(F4, F5), (FRAME_Q0+64)(R0)
	FSTPQ	(F6, F7), (FRAME_Q0+96)(R0)
	FSTPQ	(F8, F9), (FRAME_Q0+128)(R0)
	FSTPQ	(F10, F11), (FRAME_Q0+160)(R0)
	FSTPQ	(F12, F13), (FRAME_Q0+192)(R0)
	FSTPQ	(F14, F15), (FRAME_Q0+224)(R0)
	FSTPQ	(F18, F19), (FRAME_Q0+288)(R0)
	FSTPQ	(F20, F21), (FRAME_Q0+320)(R0)
	FSTPQ	(F22, F23), (FRAME_Q0+352)(R0)
	FSTPQ	(F24, F25), (FRAME_Q0+384)(R0)
	FSTPQ	(F26, F27), (FRAME_Q0+416)(R0)
	FSTPQ	(F28, F29), (FRAME_Q0+448)(R0)
	FSTPQ	(F30, F31), (FRAME_Q0+480)(R0)
loadonly:
	FLDPQ	(FRAME_Q0+64)(R1), (F4, F5)
	FLDPQ	(FRAME_Q0+96)(R1), (F6, F7)
	FLDPQ	(FRAME_Q0+128)(R1), (F8, F9)
	FLDPQ	(FRAME_Q0+160)(R1), (F10, F11)
	FLDPQ	(FRAME_Q0+192)(R1), (F12, F13)
	FLDPQ	(FRAME_Q0+224)(R1), (F14, F15)
	FLDPQ	(FRAME_Q0+288)(R1), (F18, F19)
	FLDPQ	(FRAME_Q0+320)(R1), (F20, F21)
	FLDPQ	(FRAME_Q0+352)(R1), (F22, F23)
	FLDPQ	(FRAME_Q0+384)(R1), (F24, F25)
	FLDPQ	(FRAME_Q0+416)(R1), (F26, F27)
	FLDPQ	(FRAME_Q0+448)(R1), (F28, F29)
	FLDPQ	(FRAME_Q0+480)(R1), (F30, F31)
	RET
