package arch

// Defined in sysreg_arm64.s.

// Read32 loads a 32-bit device register.
func Read32(addr uintptr) uint32

// Write32 stores a 32-bit device register.
func Write32(addr uintptr, v uint32)

// Read8, Write8 and Read16 are the narrow accesses (virtio device
// configuration space has 8- and 16-bit fields; Write16 is in dma_arm64.go).
func Read8(addr uintptr) uint8
func Write8(addr uintptr, v uint8)
func Read16(addr uintptr) uint16

// Read64 loads a 64-bit device register.
func Read64(addr uintptr) uint64

// Write64 stores a 64-bit device register.
func Write64(addr uintptr, v uint64)

// Counter reads CNTVCT_EL0, the virtual count of the generic timer.
func Counter() uint64

// CounterFreq reads CNTFRQ_EL0, the generic timer frequency in Hz.
func CounterFreq() uint64

// SetTimer programs the EL1 virtual timer: CNTV_CVAL_EL0 = deadline and
// CNTV_CTL_EL0 = ctl.
func SetTimer(deadline uint64, ctl uint64)

// ESR reads ESR_EL1, the syndrome of the exception being handled.
func ESR() uint64

// FAR reads FAR_EL1, the faulting virtual address.
func FAR() uint64

// MIDR reads MIDR_EL1 (main ID register).
func MIDR() uint64

// ISAR0 reads ID_AA64ISAR0_EL1.
func ISAR0() uint64

// PFR0 reads ID_AA64PFR0_EL1.
func PFR0() uint64

// FlushTLB invalidates all stage 1 EL1 translations (TLBI VMALLE1) after a
// barrier that makes page-table stores visible to the walker.
func FlushTLB()

// SyncPTE makes a page-table store visible to the table walker (DSB ISHST;
// ISB) when an invalid entry became valid: no TLB maintenance is needed then.
func SyncPTE()

// HVCCall issues a PSCI call through HVC #0 and returns x0.
func HVCCall(fn, a1, a2, a3 uint64) uint64

// SMCCall issues a PSCI call through SMC #0 and returns x0.
func SMCCall(fn, a1, a2, a3 uint64) uint64

// GICv3 CPU interface (system registers ICC_*_EL1, IHI 0069 chapter 12).

// ICCInit sets ICC_SRE_EL1.SRE, ICC_PMR_EL1 = 0xff and ICC_IGRPEN1_EL1 = 1.
func ICCInit()

// ICCAck reads ICC_IAR1_EL1 (acknowledge the highest priority Group 1 interrupt).
func ICCAck() uint64

// ICCEOI writes ICC_EOIR1_EL1.
func ICCEOI(intid uint64)

// WaitForInterrupt executes WFI.
func WaitForInterrupt()

// TLBIAll invalidates all EL1&0 TLB entries on every core (DSB ISHST,
// TLBI VMALLE1IS, DSB ISH, ISB).
func TLBIAll()

// TLBIASID invalidates every non-global TLB entry of asid on every core.
func TLBIASID(asid uint16)

// TLBIRange invalidates the TLB entries of pages pages from va under asid
// on every core, in the order the Arm ARM requires after descriptors were
// cleared: DSB ISHST, TLBI VAE1IS per page, DSB ISH, ISB.
func TLBIRange(va, pages uint64, asid uint16)

// TLBIRangeGlobal is TLBIRange for global (kernel) entries: TLBI VAAE1IS.
func TLBIRangeGlobal(va, pages uint64)

// MMFR0 reads ID_AA64MMFR0_EL1 (memory model features: PARange, ASIDBits).
func MMFR0() uint64

// EnableEL0VirtualCounter lets EL0 read the virtual counter (CNTKCTL_EL1.EL0VCTEN).
func EnableEL0VirtualCounter()

// EnablePAN turns on Privileged Access Never if the CPU has it and reports
// whether it did.
func EnablePAN() bool

// MAIR reads MAIR_EL1 (the memory attribute encodings descriptors index).
func MAIR() uint64

// TranslateEL0 returns PAR_EL1 after an EL0 read (write) address
// translation of va through the current tables: bit 0 set if the access
// would fault, else the physical address (bits [51:12]) and MAIR attribute
// encoding (bits [63:56]).
func TranslateEL0(va uint64, write bool) uint64
