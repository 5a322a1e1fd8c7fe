package mm

// VMSAv8-64 descriptors, 4 KiB granule, 48-bit VA and OA.
//
// Field names follow the Arm ARM (DDI 0487), D8.3 "Translation table
// descriptor formats": "VMSAv8-64 Table descriptor format" (bits[1:0] = 0b11
// at levels 0-2), "VMSAv8-64 Block descriptor format" (bits[1:0] = 0b01 at
// levels 1-2), "VMSAv8-64 Page descriptor format" (bits[1:0] = 0b11 at level
// 3), and the stage 1 lower/upper attribute fields of Block and Page
// descriptors (D8.3.2 / D8.4 "Memory access control" / D8.6 "Memory region
// attributes").

// Descriptor type bits.
const (
	DescValid = 1 << 0 // bit[0]: valid
	DescTable = 1 << 1 // bit[1] at levels 0-2: 1 = Table descriptor, 0 = Block
	DescPage  = 1 << 1 // bit[1] at level 3: must be 1 for a Page descriptor
	descType  = 3
)

// Attr holds the stage 1 attribute bits of a Block or Page descriptor
// (lower attributes bits[11:2], upper attributes bits[63:50]); the type
// bits and the output address are added by the PageTable.
type Attr uint64

// Stage 1 Block/Page descriptor attribute fields.
const (
	// AttrIndx, bits[4:2]: index into MAIR_EL1 (see MAIR* below).
	AttrIndxShift      = 2
	AttrIndxMask  Attr = 7 << AttrIndxShift
	// NS, bit[5]: non-secure output address (Secure state only).
	AttrNS Attr = 1 << 5
	// AP[2:1], bits[7:6]: data access permissions.
	//   AP[1] (bit 6) = 1: accessible from EL0 (unprivileged).
	//   AP[2] (bit 7) = 1: read-only (at every EL that may access).
	AttrAPEL0 Attr = 1 << 6
	AttrAPRO  Attr = 1 << 7
	// SH[1:0], bits[9:8]: shareability of Normal memory.
	AttrSHNone  Attr = 0 << 8
	AttrSHOuter Attr = 2 << 8
	AttrSHInner Attr = 3 << 8
	attrSHMask  Attr = 3 << 8
	// AF, bit[10]: Access flag; 0 faults on first access (no hardware AF update here).
	AttrAF Attr = 1 << 10
	// nG, bit[11]: not global: the TLB entry is tagged with the current ASID.
	AttrNG Attr = 1 << 11
	// DBM, bit[51]: dirty bit modifier (hardware dirty state, unused by armos).
	AttrDBM Attr = 1 << 51
	// Contiguous, bit[52]: one of 16 adjacent entries with identical attributes.
	AttrContiguous Attr = 1 << 52
	// PXN, bit[53]: privileged execute-never.
	AttrPXN Attr = 1 << 53
	// UXN, bit[54]: unprivileged execute-never (XN at EL2/EL3 translation regimes).
	AttrUXN Attr = 1 << 54
	// Bits[58:55] are reserved for software use. armos uses:
	// AttrSWOwned: the page was allocated for this mapping and is freed with it.
	AttrSWOwned Attr = 1 << 55
	// attrSWMask covers all four software bits.
	attrSWMask Attr = 0xf << 55
)

// Table descriptor fields (stage 1 hierarchical attributes, bits[63:59];
// bits[58:52] are IGNORED by hardware and used by armos for bookkeeping).
const (
	TablePXN     = 1 << 59 // PXNTable
	TableUXN     = 1 << 60 // UXNTable (XNTable)
	TableAPShift = 61      // APTable, bits[62:61]
	TableNS      = 1 << 63 // NSTable
	// tableBorrowed (IGNORED bit 58): the subtable belongs to another
	// PageTable (ShareFrom); this table never writes into or frees it.
	tableBorrowed = 1 << 58
	// tablePinned (IGNORED bit 57): other PageTables borrow this subtable;
	// it is never freed when it becomes empty.
	tablePinned = 1 << 57
)

// AddrMask selects the output address bits[47:12] of a descriptor.
const AddrMask = 0x0000_ffff_ffff_f000

// attrAllowed is every bit an Attr may carry.
const attrAllowed = AttrIndxMask | AttrNS | AttrAPEL0 | AttrAPRO | attrSHMask | AttrAF | AttrNG |
	AttrDBM | AttrContiguous | AttrPXN | AttrUXN | attrSWMask

// MAIR_EL1 attribute encodings (Arm ARM D19 "MAIR_EL1, Memory Attribute
// Indirection Register") and the index armos gives each one. Indices 0 and
// 1 match the boot map built in internal/rt (entry_arm64.s: Attr0 =
// Device-nGnRnE, Attr1 = Normal WB); MAIRValue extends that MAIR with
// Device-nGnRE and Normal Non-cacheable, so loading it changes nothing for
// existing descriptors.
const (
	MAIRDeviceNGnRnE = 0x00 // Device-nGnRnE
	MAIRNormalWB     = 0xff // Normal, Inner/Outer Write-Back Non-transient, R+W allocate
	MAIRDeviceNGnRE  = 0x04 // Device-nGnRE
	MAIRNormalNC     = 0x44 // Normal, Inner/Outer Non-cacheable

	MAIRIdxDeviceStrict = 0
	MAIRIdxNormal       = 1
	MAIRIdxDevice       = 2
	MAIRIdxNormalNC     = 3

	// MAIRValue is the value to load into MAIR_EL1 for these indices.
	MAIRValue = MAIRDeviceNGnRnE<<(8*MAIRIdxDeviceStrict) | MAIRNormalWB<<(8*MAIRIdxNormal) |
		MAIRDeviceNGnRE<<(8*MAIRIdxDevice) | MAIRNormalNC<<(8*MAIRIdxNormalNC)
)

// Memory types as AttrIndx values.
const (
	AttrNormal       Attr = MAIRIdxNormal << AttrIndxShift
	AttrDevice       Attr = MAIRIdxDevice << AttrIndxShift
	AttrNormalNC     Attr = MAIRIdxNormalNC << AttrIndxShift
	AttrDeviceStrict Attr = MAIRIdxDeviceStrict << AttrIndxShift
)

// Ready-made attribute sets.
const (
	// KernelRW: kernel data, heap and the linear map of RAM. Global, EL1 RW, never executable.
	KernelRW = AttrNormal | AttrSHInner | AttrAF | AttrPXN | AttrUXN
	// KernelRO: kernel read-only data.
	KernelRO = KernelRW | AttrAPRO
	// KernelRX: kernel text (EL1 read+execute, EL0 execute-never).
	KernelRX = AttrNormal | AttrSHInner | AttrAF | AttrAPRO | AttrUXN
	// KernelRWX: early boot mapping of the whole image before sections are split.
	KernelRWX = AttrNormal | AttrSHInner | AttrAF | AttrUXN
	// KernelDevice: MMIO (UART, GIC, virtio). Device memory is always
	// Outer Shareable, so SH is left 0.
	KernelDevice = AttrDevice | AttrAF | AttrPXN | AttrUXN
	// UserRW: process data/heap/stack, per-ASID, EL0 RW.
	UserRW = AttrNormal | AttrSHInner | AttrAF | AttrNG | AttrAPEL0 | AttrPXN | AttrUXN
	// UserRO: process read-only data.
	UserRO = UserRW | AttrAPRO
	// UserDevice: a device's registers granted to a driver process:
	// per-ASID, EL0 RW, never executable, Device-nGnRE.
	UserDevice = AttrDevice | AttrAF | AttrNG | AttrAPEL0 | AttrPXN | AttrUXN
	// UserRX: process text.
	UserRX = AttrNormal | AttrSHInner | AttrAF | AttrNG | AttrAPEL0 | AttrAPRO | AttrPXN
)

// Translation geometry: 4 levels of 512 entries.
const (
	// VABits is the virtual address width (TCR_EL1.T0SZ = 64-VABits = 16).
	VABits = 48
	// VALimit is the first address a TTBR0 table cannot map.
	VALimit = 1 << VABits
	// PABits is the output address width handled (TCR_EL1.IPS = 0b101).
	PABits     = 48
	entries    = 512
	levelShift = 9
	// Level3Size is the size a level 3 (page) descriptor maps.
	Level3Size = 1 << 12
	// Level2Size is the size a level 2 block maps (2 MiB).
	Level2Size = 1 << 21
	// Level1Size is the size a level 1 block maps (1 GiB).
	Level1Size = 1 << 30
	// Level0Size is the span of one level 0 entry (512 GiB).
	Level0Size = 1 << 39
)

// levelShift returns the VA shift of level l's index: 39, 30, 21 or 12.
//
//go:nosplit
func levelShiftOf(level int) uint { return uint(39 - 9*(level&3)) }

// levelSize returns the span of one entry at level l.
//
//go:nosplit
func levelSize(level int) uint64 { return 1 << levelShiftOf(level) }

// indexAt returns va's entry index in its level-l table.
//
//go:nosplit
func indexAt(va uint64, level int) int {
	return int(va>>levelShiftOf(level)) & (entries - 1)
}
