package arch

// GIC distributor registers, common to GICv2 (IHI 0048B, 4.3) and GICv3
// (IHI 0069, 12.9).
const (
	gicdCTLR       = 0x0000 // GICD_CTLR
	gicdIGROUPR    = 0x0080 // GICD_IGROUPR<n>
	gicdISENABLER  = 0x0100 // GICD_ISENABLER<n>
	gicdIPRIORITYR = 0x0400 // GICD_IPRIORITYR<n>, one byte per INTID
	gicdITARGETSR  = 0x0800 // GICD_ITARGETSR<n> (GICv2 only), one byte per INTID
	gicdIROUTER    = 0x6000 // GICD_IROUTER<n> (GICv3 only), 8 bytes per INTID

	gicdCTLREnableGrp0 = 1 << 0
	gicdCTLREnableGrp1 = 1 << 1
	gicdCTLRARE        = 1 << 4  // GICv3: affinity routing enable
	gicdCTLRRWP        = 1 << 31 // GICv3: register write pending
)

// GICv2 CPU interface registers (IHI 0048B, 4.4).
const (
	giccCTLR = 0x0000 // GICC_CTLR
	giccPMR  = 0x0004 // GICC_PMR
	giccIAR  = 0x000c // GICC_IAR
	giccEOIR = 0x0010 // GICC_EOIR
)

// GICv3 redistributor registers (IHI 0069, 12.10 and 12.11).
const (
	gicrWAKER          = 0x0014  // GICR_WAKER, in RD_base
	gicrSGIBase        = 0x10000 // SGI_base frame follows RD_base
	gicrIGROUPR0       = 0x0080  // GICR_IGROUPR0, in SGI_base
	gicrISENABLER0     = 0x0100  // GICR_ISENABLER0, in SGI_base
	gicrIPRIORITYR     = 0x0400  // GICR_IPRIORITYR<n>, in SGI_base
	gicrWAKERSleep     = 1 << 1  // GICR_WAKER.ProcessorSleep
	gicrWAKERChildren  = 1 << 2  // GICR_WAKER.ChildrenAsleep
	gicIntidSpurious   = 1023    // INTID read from IAR when nothing is pending
	gicPriorityDefault = 0x80
)

// IntidSpurious is returned by GICAck when no interrupt is pending.
const IntidSpurious = gicIntidSpurious

var (
	gicVersion int     // 2 or 3; 0 before GICInit
	gicd       uintptr // distributor base
	gicc       uintptr // GICv2 CPU interface base
	gicr       uintptr // GICv3 redistributor base of CPU 0
)

// GICInit enables the distributor and this CPU's interface. version is 2 or
// 3; cpu is the GICv2 CPU interface base or the GICv3 redistributor base.
//
//go:nosplit
func GICInit(version int, dist, cpu uintptr) {
	gicVersion, gicd = version, dist
	if version == 3 {
		gicr = cpu
		Write32(gicd+gicdCTLR, gicdCTLRARE|gicdCTLREnableGrp1|gicdCTLREnableGrp0)
		for Read32(gicd+gicdCTLR)&gicdCTLRRWP != 0 {
		}
		Write32(gicr+gicrWAKER, Read32(gicr+gicrWAKER)&^gicrWAKERSleep)
		for Read32(gicr+gicrWAKER)&gicrWAKERChildren != 0 {
		}
		Write32(gicr+gicrSGIBase+gicrIGROUPR0, 0xffffffff)
		ICCInit()
		return
	}
	gicc = cpu
	Write32(gicd+gicdCTLR, gicdCTLREnableGrp0)
	Write32(gicc+giccPMR, 0xff)
	Write32(gicc+giccCTLR, 1)
}

// setByte writes one byte lane of a byte-per-INTID register bank.
//
//go:nosplit
func setByte(bank uintptr, intid uint32, v uint8) {
	reg := bank + uintptr(intid&^3)
	shift := (intid & 3) * 8
	Write32(reg, Read32(reg)&^(0xff<<shift)|uint32(v)<<shift)
}

// GICEnable configures and enables one interrupt on CPU 0: a PPI/SGI
// (INTID < 32) in the banked registers, or an SPI routed to CPU 0.
//
//go:nosplit
func GICEnable(intid uint32) {
	bit := uint32(1) << (intid % 32)
	if gicVersion == 3 && intid < 32 {
		sgi := gicr + gicrSGIBase
		setByte(sgi+gicrIPRIORITYR, intid, gicPriorityDefault)
		Write32(sgi+gicrISENABLER0, bit)
		return
	}
	word := uintptr(intid/32) * 4
	setByte(gicd+gicdIPRIORITYR, intid, gicPriorityDefault)
	if gicVersion == 3 {
		Write32(gicd+gicdIGROUPR+word, Read32(gicd+gicdIGROUPR+word)|bit)
		Write64(gicd+gicdIROUTER+uintptr(intid)*8, 0)
	} else if intid >= 32 {
		setByte(gicd+gicdITARGETSR, intid, 1)
	}
	Write32(gicd+gicdISENABLER+word, bit)
}

// GICDisable masks one interrupt (the enable bit GICEnable set).
//
//go:nosplit
func GICDisable(intid uint32) {
	bit := uint32(1) << (intid % 32)
	if gicVersion == 3 && intid < 32 {
		Write32(gicr+gicrSGIBase+gicrISENABLER0+0x80, bit) // GICR_ICENABLER0
		return
	}
	Write32(gicd+gicdISENABLER+0x80+uintptr(intid/32)*4, bit) // GICD_ICENABLER<n>
}

// GICAck acknowledges the highest-priority pending interrupt and returns its
// INTID (IntidSpurious if none).
//
//go:nosplit
func GICAck() uint32 {
	if gicVersion == 3 {
		return uint32(ICCAck() & 0xffffff)
	}
	return Read32(gicc+giccIAR) & 0x3ff
}

// GICEOI signals the end of handling of intid.
//
//go:nosplit
func GICEOI(intid uint32) {
	if gicVersion == 3 {
		ICCEOI(uint64(intid))
		return
	}
	Write32(gicc+giccEOIR, intid)
}
