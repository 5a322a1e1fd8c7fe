#include "textflag.h"

#define STACK_SIZE	65536		// stackSize in check_arm64.go
// VMSAv8-64 level 1 block descriptors (Arm ARM D8.3): 1 GiB each.
#define BLOCK_DEVICE	0x0060000000000401	// AttrIndx 0 (Device-nGnRnE), AF, PXN, UXN
#define BLOCK_NORMAL	0x0000000000000705	// AttrIndx 1 (Normal WB), inner shareable, AF
#define MAIR_VALUE	0xff00			// Attr0 = Device-nGnRnE, Attr1 = Normal WB
// TCR_EL1: T0SZ = 25 (39-bit VA: the walk starts at level 1), IRGN0 =
// ORGN0 = WBWA, SH0 = inner, TG0 = 4K, T1SZ = 25, EPD1 (no TTBR1 walks),
// TG1 = 4K, IPS = 32 bits.
#define TCR_VALUE	0x80993519
// SCTLR_EL1: M, C, I and the ARMv8.0 RES1 bits.
#define SCTLR_VALUE	0x30d01805

// func entry()
// QEMU starts here at EL1 with the MMU off. A 1:1 map (device memory below
// 1 GiB, normal memory for the first GiB of RAM) lets the Go code make
// unaligned accesses; FP/SIMD is enabled because compiled Go may use it.
// Clobbers: everything (never returns).
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	MOVD	$(3<<20), R0	// CPACR_EL1.FPEN
	MSR	R0, CPACR_EL1
	ISB	$15
	MOVD	$·stack+STACK_SIZE(SB), R0
	AND	$~15, R0
	MOVD	R0, RSP

	MOVD	$·tables+4095(SB), R0
	AND	$~4095, R0	// the L1 table, 4 KiB aligned inside tables
	MOVD	$BLOCK_DEVICE, R1
	MOVD	R1, (R0)	// [0, 1 GiB): devices
	MOVD	$BLOCK_NORMAL, R1
	ORR	$0x40000000, R1
	MOVD	R1, 8(R0)	// [1 GiB, 2 GiB): RAM
	DSB	$0xf
	MOVD	$MAIR_VALUE, R1
	MSR	R1, MAIR_EL1
	MOVD	$TCR_VALUE, R1
	MSR	R1, TCR_EL1
	MSR	R0, TTBR0_EL1
	ISB	$15
	TLBI	VMALLE1
	DSB	$0xf
	ISB	$15
	MOVD	$SCTLR_VALUE, R1
	MSR	R1, SCTLR_EL1
	ISB	$15

	MOVD	$·fakeG(SB), g
	BL	·check(SB)
halt:
	WFI
	B	halt
