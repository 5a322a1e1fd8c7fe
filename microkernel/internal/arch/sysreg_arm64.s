#include "textflag.h"

// func Read32(addr uintptr) uint32
// Clobbers: R0.
TEXT ·Read32(SB),NOSPLIT,$0-12
	MOVD	addr+0(FP), R0
	MOVWU	(R0), R0
	MOVW	R0, ret+8(FP)
	RET

// func Write32(addr uintptr, v uint32)
// Clobbers: R0, R1.
TEXT ·Write32(SB),NOSPLIT,$0-12
	MOVD	addr+0(FP), R0
	MOVWU	v+8(FP), R1
	MOVW	R1, (R0)
	RET

// func Read8(addr uintptr) uint8
// Clobbers: R0.
TEXT ·Read8(SB),NOSPLIT,$0-9
	MOVD	addr+0(FP), R0
	MOVBU	(R0), R0
	MOVB	R0, ret+8(FP)
	RET

// func Write8(addr uintptr, v uint8)
// Clobbers: R0, R1.
TEXT ·Write8(SB),NOSPLIT,$0-9
	MOVD	addr+0(FP), R0
	MOVBU	v+8(FP), R1
	MOVB	R1, (R0)
	RET

// func Read16(addr uintptr) uint16
// Clobbers: R0.
TEXT ·Read16(SB),NOSPLIT,$0-10
	MOVD	addr+0(FP), R0
	MOVHU	(R0), R0
	MOVH	R0, ret+8(FP)
	RET

// func Read64(addr uintptr) uint64
// Clobbers: R0.
TEXT ·Read64(SB),NOSPLIT,$0-16
	MOVD	addr+0(FP), R0
	MOVD	(R0), R0
	MOVD	R0, ret+8(FP)
	RET

// func Write64(addr uintptr, v uint64)
// Clobbers: R0, R1.
TEXT ·Write64(SB),NOSPLIT,$0-16
	MOVD	addr+0(FP), R0
	MOVD	v+8(FP), R1
	MOVD	R1, (R0)
	RET

// func Counter() uint64
// Clobbers: R0.
TEXT ·Counter(SB),NOSPLIT,$0-8
	ISB	$15
	MRS	CNTVCT_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func CounterFreq() uint64
// Clobbers: R0.
TEXT ·CounterFreq(SB),NOSPLIT,$0-8
	MRS	CNTFRQ_EL0, R0
	MOVD	R0, ret+0(FP)
	RET

// func SetTimer(deadline uint64, ctl uint64)
// Clobbers: R0, R1.
TEXT ·SetTimer(SB),NOSPLIT,$0-16
	MOVD	deadline+0(FP), R0
	MOVD	ctl+8(FP), R1
	MSR	R0, CNTV_CVAL_EL0
	MSR	R1, CNTV_CTL_EL0
	ISB	$15
	RET

// func ESR() uint64
// Clobbers: R0.
TEXT ·ESR(SB),NOSPLIT,$0-8
	MRS	ESR_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func FAR() uint64
// Clobbers: R0.
TEXT ·FAR(SB),NOSPLIT,$0-8
	MRS	FAR_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func MIDR() uint64
// Clobbers: R0.
TEXT ·MIDR(SB),NOSPLIT,$0-8
	MRS	MIDR_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func ISAR0() uint64
// Clobbers: R0.
TEXT ·ISAR0(SB),NOSPLIT,$0-8
	MRS	ID_AA64ISAR0_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func PFR0() uint64
// Clobbers: R0.
TEXT ·PFR0(SB),NOSPLIT,$0-8
	MRS	ID_AA64PFR0_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func FlushTLB()
// Clobbers: nothing.
TEXT ·FlushTLB(SB),NOSPLIT,$0-0
	DSB	$0xa	// ISHST
	TLBI	VMALLE1
	DSB	$0xb	// ISH
	ISB	$15
	RET

// func SyncPTE()
// Clobbers: nothing.
TEXT ·SyncPTE(SB),NOSPLIT,$0-0
	DSB	$0xa	// ISHST
	ISB	$15
	RET

// func HVCCall(fn, a1, a2, a3 uint64) uint64
// Clobbers: R0-R3 (and whatever the SMCCC lets firmware clobber: R4-R17).
TEXT ·HVCCall(SB),NOSPLIT,$0-40
	MOVD	fn+0(FP), R0
	MOVD	a1+8(FP), R1
	MOVD	a2+16(FP), R2
	MOVD	a3+24(FP), R3
	HVC	$0
	MOVD	R0, ret+32(FP)
	RET

// func SMCCall(fn, a1, a2, a3 uint64) uint64
// Clobbers: R0-R3 (and whatever the SMCCC lets firmware clobber: R4-R17).
TEXT ·SMCCall(SB),NOSPLIT,$0-40
	MOVD	fn+0(FP), R0
	MOVD	a1+8(FP), R1
	MOVD	a2+16(FP), R2
	MOVD	a3+24(FP), R3
	SMC	$0
	MOVD	R0, ret+32(FP)
	RET

// func ICCInit()
// Clobbers: R0.
TEXT ·ICCInit(SB),NOSPLIT,$0-0
	MRS	ICC_SRE_EL1, R0
	ORR	$1, R0		// SRE: use the system register interface
	MSR	R0, ICC_SRE_EL1
	ISB	$15
	MOVD	$0xff, R0
	MSR	R0, ICC_PMR_EL1	// accept every priority
	MOVD	$1, R0
	MSR	R0, ICC_IGRPEN1_EL1	// enable Group 1 interrupts
	ISB	$15
	RET

// func ICCAck() uint64
// Clobbers: R0.
TEXT ·ICCAck(SB),NOSPLIT,$0-8
	MRS	ICC_IAR1_EL1, R0
	DSB	$0xf
	MOVD	R0, ret+0(FP)
	RET

// func ICCEOI(intid uint64)
// Clobbers: R0.
TEXT ·ICCEOI(SB),NOSPLIT,$0-8
	MOVD	intid+0(FP), R0
	MSR	R0, ICC_EOIR1_EL1
	ISB	$15
	RET

// func WaitForInterrupt()
// Clobbers: nothing.
TEXT ·WaitForInterrupt(SB),NOSPLIT,$0-0
	DSB	$0xf
	WFI
	RET

// func TLBIAll()
// Invalidates every stage 1 EL1&0 TLB entry of every ASID on every core
// (the inner shareable domain), after the table writes are visible.
// Clobbers: nothing.
TEXT ·TLBIAll(SB),NOSPLIT,$0-0
	DSB	$0xa	// ISHST: descriptor writes before the invalidation
	TLBI	VMALLE1IS
	DSB	$0xb	// ISH: invalidation complete everywhere
	ISB	$15
	RET

// func TLBIASID(asid uint16)
// Invalidates every non-global entry of one ASID on every core.
// Clobbers: R0.
TEXT ·TLBIASID(SB),NOSPLIT,$0-2
	MOVHU	asid+0(FP), R0
	LSL	$48, R0
	DSB	$0xa
	TLBI	ASIDE1IS, R0
	DSB	$0xb
	ISB	$15
	RET

// func TLBIRange(va uint64, pages uint64, asid uint16)
// Invalidates the entries for pages pages from va, of one ASID (non-global
// entries; VAE1IS also invalidates the walk-cache entries for each VA).
// Clobbers: R0, R1, R2.
TEXT ·TLBIRange(SB),NOSPLIT,$0-18
	MOVD	va+0(FP), R0
	MOVD	pages+8(FP), R1
	MOVHU	asid+16(FP), R2
	LSR	$12, R0
	UBFX	$0, R0, $44, R0	// VA[55:12] -> Xt[43:0]
	ORR	R2<<48, R0
	DSB	$0xa
	CBZ	R1, done
loop:
	TLBI	VAE1IS, R0
	ADD	$1, R0
	SUB	$1, R1
	CBNZ	R1, loop
done:
	DSB	$0xb
	ISB	$15
	RET

// func TLBIRangeGlobal(va uint64, pages uint64)
// Invalidates the entries for pages pages from va in every ASID, global
// ones included (kernel mappings).
// Clobbers: R0, R1.
TEXT ·TLBIRangeGlobal(SB),NOSPLIT,$0-16
	MOVD	va+0(FP), R0
	MOVD	pages+8(FP), R1
	LSR	$12, R0
	UBFX	$0, R0, $44, R0
	DSB	$0xa
	CBZ	R1, done
loop:
	TLBI	VAAE1IS, R0
	ADD	$1, R0
	SUB	$1, R1
	CBNZ	R1, loop
done:
	DSB	$0xb
	ISB	$15
	RET

// func MMFR0() uint64
// Clobbers: R0.
TEXT ·MMFR0(SB),NOSPLIT,$0-8
	MRS	ID_AA64MMFR0_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func EnableEL0VirtualCounter()
// Lets EL0 read CNTVCT_EL0 (CNTKCTL_EL1.EL0VCTEN, bit 1): the vDSO reads
// the clock without a system call. Clobbers: R0.
TEXT ·EnableEL0VirtualCounter(SB),NOSPLIT,$0-0
	MRS	CNTKCTL_EL1, R0
	ORR	$2, R0
	MSR	R0, CNTKCTL_EL1
	ISB	$15
	RET

// func EnablePAN() bool
// Turns on Privileged Access Never when the CPU has it (ID_AA64MMFR1_EL1.PAN):
// SCTLR_EL1.SPAN cleared, so every exception taken to EL1 sets PSTATE.PAN,
// and PSTATE.PAN set now. With PAN, an EL1 access to a page EL0 may access
// faults: the kernel reaches process memory only through its own mappings.
// Clobbers: R0, R1.
TEXT ·EnablePAN(SB),NOSPLIT,$0-1
	MRS	ID_AA64MMFR1_EL1, R0
	UBFX	$20, R0, $4, R0
	CBZ	R0, nopan
	MRS	SCTLR_EL1, R1
	AND	$~(1<<23), R1		// SPAN = 0
	MSR	R1, SCTLR_EL1
	ISB	$15
	WORD	$0xd500419f		// MSR PAN, #1
	MOVD	$1, R0
	MOVB	R0, ret+0(FP)
	RET
nopan:
	MOVB	ZR, ret+0(FP)
	RET

// func MAIR() uint64
// Clobbers: R0.
TEXT ·MAIR(SB),NOSPLIT,$0-8
	MRS	MAIR_EL1, R0
	MOVD	R0, ret+0(FP)
	RET

// func TranslateEL0(va uint64, write bool) uint64
// Asks the MMU whether EL0 may read (or write) va under the current
// TTBR0_EL1 tables, as the process itself would: AT S1E0R (S1E0W), then
// PAR_EL1 (bit 0 set: it may not; else the physical address in bits
// [51:12] and the memory attribute encoding in [63:56]). Run with
// interrupts masked (trap context), so nothing else's AT overwrites
// PAR_EL1 between the two instructions. Clobbers: R0, R1, PAR_EL1.
TEXT ·TranslateEL0(SB),NOSPLIT,$0-24
	MOVD	va+0(FP), R0
	MOVBU	write+8(FP), R1
	CBNZ	R1, atwrite
	WORD	$0xd5087840		// AT S1E0R, X0
	B	atdone
atwrite:
	WORD	$0xd5087860		// AT S1E0W, X0
atdone:
	ISB	$15
	MRS	PAR_EL1, R0
	MOVD	R0, ret+16(FP)
	RET
