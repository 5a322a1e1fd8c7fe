#include "textflag.h"

#define EXC_STACK_SIZE	65536	// excStackSize in early.go

// Boot entry: QEMU jumps here (via main.boot) with the MMU off, at EL2 or EL1.
// See docs/boot.md for the whole sequence.

// Early translation table entries (Arm ARM D8.3, VMSAv8-64 descriptors).
// AttrIndx selects a MAIR_EL1 byte: 0 = Device-nGnRnE, 1 = Normal write-back.
#define BLOCK_DEVICE	0x0060000000000401	// block, AttrIndx 0, AF, PXN, UXN (L1 or L2)
// DEVICE_BASE: the lowest device QEMU virt has that the kernel uses (the GIC).
#define DEVICE_BASE	0x08000000
#define BLOCK_NORMAL	0x0000000000000705	// block, AttrIndx 1, SH inner, AF
// MAIR_EL1 = mm.MAIRValue: Attr0 Device-nGnRnE, Attr1 Normal WB,
// Attr2 Device-nGnRE, Attr3 Normal non-cacheable (mm/desc.go).
#define MAIR_VALUE	0x4404ff00
// TCR_EL1: T0SZ=16 (48-bit VA), IRGN0=ORGN0=WBWA, SH0=inner, TG0=4K,
// T1SZ=16, EPD1 (no TTBR1 walks), TG1=4K; IPS is filled from PARange and
// AS (16-bit ASIDs) from ASIDBits.
#define TCR_VALUE	0x80903510
#define TCR_AS		(1<<36)
// SCTLR_EL1: M, C, I plus the ARMv8.0 RES1 bits (11, 20, 22, 23, 28, 29).
#define SCTLR_VALUE	0x30d01805
// SPSR_EL2 for the drop to EL1: EL1h with D, A, I and F masked.
#define SPSR_EL1H_MASKED	0x3c5
// LINEAR_BASE = mm.LinearBase: physical address p is at LINEAR_BASE+p once
// the MMU is on. The kernel is linked there (LinkFlags in guesttest), so
// until the MMU is on, every symbol address formed PC-relatively (MOVD
// $sym(SB) assembles to ADRP+ADD) is the physical one.
#define LINEAR_BASE	0x0000800000000000

// func entry()
// Clobbers: everything (it never returns; it becomes the runtime's m0).
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	MRS	CNTVCT_EL0, R0
	MOVD	$·entryTicks(SB), R1
	MOVD	R0, (R1)
	MRS	CurrentEL, R0
	UBFX	$2, R0, $2, R0
	MOVD	$·entryEL(SB), R1
	MOVD	R0, (R1)
	CMP	$2, R0
	BNE	at_el1
	// EL2: let EL1 run AArch64 with the counters, FP and GICv3 registers.
	MOVD	$(1<<31), R0	// HCR_EL2.RW: EL1 is AArch64
	WORD	$0xd51c1100	// MSR HCR_EL2, X0
	MOVD	$3, R0		// CNTHCTL_EL2.EL1PCTEN | EL1PCEN
	WORD	$0xd51ce100	// MSR CNTHCTL_EL2, X0
	MOVD	$0, R0
	WORD	$0xd51ce060	// MSR CNTVOFF_EL2, X0
	MOVD	$0x33ff, R0	// CPTR_EL2: RES1 bits, TFP clear
	WORD	$0xd51c1140	// MSR CPTR_EL2, X0
	MRS	ID_AA64PFR0_EL1, R0
	UBFX	$24, R0, $4, R0	// ID_AA64PFR0_EL1.GIC: system register interface present?
	CBZ	R0, nogicv3
	MOVD	$0xf, R0	// ICC_SRE_EL2: SRE, DFB, DIB, Enable (EL1 may use ICC_SRE_EL1)
	WORD	$0xd51cc9a0	// MSR ICC_SRE_EL2, X0
nogicv3:
	MOVD	$SPSR_EL1H_MASKED, R0
	WORD	$0xd51c4000	// MSR SPSR_EL2, X0
	MOVD	$·el1entry(SB), R0
	WORD	$0xd51c4020	// MSR ELR_EL2, X0
	ISB	$15
	ERET
at_el1:
	B	·el1entry(SB)

// func el1entry()
// Clobbers: everything (never returns).
TEXT ·el1entry(SB),NOSPLIT|NOFRAME,$0
	MOVD	$(3<<20), R0	// CPACR_EL1.FPEN: no FP/SIMD traps
	MSR	R0, CPACR_EL1
	ISB	$15
	MOVD	$·excStack+EXC_STACK_SIZE(SB), R0
	AND	$~15, R0
	MOVD	R0, RSP		// SP_EL1: the trap stack (physical until the MMU is on)

	// Three zeroed pages after the image: the L0, L1 and L2 tables of the
	// boot map. L0[0] (the identity map, needed while the MMU comes on)
	// and L0[256] (the linear map at LINEAR_BASE) share one L1 table.
	MOVD	$runtime·end(SB), R0
	ADD	$0xffff, R0
	AND	$~0xffff, R0
	ADD	$4096, R0, R1
	ADD	$8192, R0, R4
	MOVD	R0, R2
	MOVD	$1536, R3
zero:
	MOVD.P	ZR, 8(R2)
	SUB	$1, R3
	CBNZ	R3, zero
	ORR	$3, R1, R2	// L0[0] and L0[256] -> L1 (table descriptors)
	MOVD	R2, (R0)
	MOVD	R2, 2048(R0)
	ORR	$3, R4, R2	// L1[0] -> L2: the first GiB in 2 MiB blocks
	MOVD	R2, (R1)
	// [0, DEVICE_BASE) stays unmapped (QEMU's flash), so that nil
	// dereferences fault; [DEVICE_BASE, 1 GiB) is device memory.
	MOVD	$BLOCK_DEVICE, R2
	ORR	$DEVICE_BASE, R2
	MOVD	$(DEVICE_BASE>>21), R3
	ADD	R3<<3, R4, R5
dev:
	MOVD.P	R2, 8(R5)
	ADD	$(1<<21), R2
	ADD	$1, R3
	CMP	$512, R3
	BNE	dev
	MOVD	$(BLOCK_NORMAL|0x40000000), R2	// L1[1..3]: [1, 4 GiB) RAM
	MOVD	R2, 8(R1)
	MOVD	$(BLOCK_NORMAL|0x80000000), R2
	MOVD	R2, 16(R1)
	MOVD	$(BLOCK_NORMAL|0xc0000000), R2
	MOVD	R2, 24(R1)
	MOVD	$·bootL0(SB), R3
	MOVD	R0, (R3)
	ADD	$12288, R0, R2
	MOVD	$·bootFree(SB), R3
	MOVD	R2, (R3)
	MOVD	$runtime·text(SB), R2
	MOVD	$·imageText(SB), R3
	MOVD	R2, (R3)

	MOVD	$MAIR_VALUE, R2
	MSR	R2, MAIR_EL1
	MRS	ID_AA64MMFR0_EL1, R2
	UBFX	$4, R2, $4, R4	// ASIDBits: 2 means 16-bit ASIDs
	AND	$7, R2		// PARange -> TCR_EL1.IPS
	LSL	$32, R2
	MOVD	$TCR_VALUE, R3
	ORR	R2, R3
	CMP	$2, R4
	BNE	asid8
	ORR	$TCR_AS, R3
asid8:
	MSR	R3, TCR_EL1
	MSR	R0, TTBR0_EL1
	ISB	$15
	TLBI	VMALLE1
	DSB	$0xb
	ISB	$15
	MOVD	$SCTLR_VALUE, R2
	MSR	R2, SCTLR_EL1
	ISB	$15

	// The MMU is on, still running at the identity address: continue at
	// the linked (linear-map) address of el1high.
	MOVD	$LINEAR_BASE, R9
	MOVD	$·el1high(SB), R0
	ADD	R9, R0
	B	(R0)

// func el1high()
// The rest of the boot at the kernel's linked addresses: trap stack and
// vectors, earlyInit (which replaces the boot map with the kernel's own
// tables, dropping the identity map), then the Go runtime.
// Clobbers: everything (never returns).
TEXT ·el1high(SB),NOSPLIT|NOFRAME,$0
	MOVD	$·excStack+EXC_STACK_SIZE(SB), R0
	AND	$~15, R0
	MOVD	R0, RSP		// SP_EL1 at its linear-map address
	// Until initThreads gives the boot thread its Frame, a trap (a fatal
	// one, in earlyInit) saves the registers into idleFrame.
	MOVD	$·idleFrame(SB), R0
	MOVD	$·curFrame(SB), R1
	MOVD	R0, (R1)
	MOVD	$·vectors(SB), R2
	MSR	R2, VBAR_EL1
	ISB	$15

	// Go code before the runtime exists: g = trapG, whose zero stack guard
	// lets function prologues pass (see docs/boot.md).
	MOVD	$·trapG(SB), g
	SUB	$16, RSP
	BL	·earlyInit(SB)
	ADD	$16, RSP

	// Become the runtime's first thread: EL1t on SP_EL0, interrupts on.
	MOVD	$·initialSP(SB), R0
	MOVD	(R0), R0
	MSR	$0, SPSel
	MOVD	R0, RSP
	MOVD	$0, g
	MOVD	$0, R30
	MSR	$2, DAIFClr
	B	_rt0_arm64_linux(SB)
