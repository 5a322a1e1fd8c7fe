//go:build !arm64

package arch

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// regs is a fake MMIO block: the host stand-ins of Read32/Write32 access
// ordinary memory, so the drivers can be pointed at it.
type regs struct{ mem []uint32 }

func newRegs(size int) *regs              { return &regs{mem: make([]uint32, size/4)} }
func (r *regs) base() uintptr             { return uintptr(unsafe.Pointer(&r.mem[0])) }
func (r *regs) at(off uintptr) uint32     { return r.mem[off/4] }
func (r *regs) set(off uintptr, v uint32) { r.mem[off/4] = v }

func TestGICv2InitAndEnable(t *testing.T) {
	dist, cpu := newRegs(0x1000), newRegs(0x100)
	GICInit(2, dist.base(), cpu.base())
	require.EqualValues(t, gicdCTLREnableGrp0, dist.at(gicdCTLR))
	require.EqualValues(t, 0xff, cpu.at(giccPMR))
	require.EqualValues(t, 1, cpu.at(giccCTLR))

	GICEnable(27) // the virtual timer PPI
	require.EqualValues(t, 1<<27, dist.at(gicdISENABLER))
	require.EqualValues(t, uint32(gicPriorityDefault)<<24, dist.at(gicdIPRIORITYR+24), "byte 3 of IPRIORITYR6")

	GICEnable(79) // a virtio-mmio SPI
	require.EqualValues(t, 1<<(79-64), dist.at(gicdISENABLER+8))
	require.EqualValues(t, uint32(1)<<24, dist.at(gicdITARGETSR+76), "routed to CPU 0")

	cpu.set(giccIAR, 27)
	require.EqualValues(t, 27, GICAck())
	GICEOI(27)
	require.EqualValues(t, 27, cpu.at(giccEOIR))
}

func TestGICv3InitAndEnable(t *testing.T) {
	dist, redist := newRegs(0x8000), newRegs(0x20000)
	redist.set(gicrWAKER, gicrWAKERSleep)
	GICInit(3, dist.base(), redist.base())
	require.EqualValues(t, gicdCTLRARE|gicdCTLREnableGrp1|gicdCTLREnableGrp0, dist.at(gicdCTLR))
	require.Zero(t, redist.at(gicrWAKER)&gicrWAKERSleep, "redistributor woken")
	require.EqualValues(t, 0xffffffff, redist.at(gicrSGIBase+gicrIGROUPR0), "SGIs/PPIs in Group 1")

	GICEnable(27)
	require.EqualValues(t, 1<<27, redist.at(gicrSGIBase+gicrISENABLER0), "PPIs live in the redistributor")
	require.Zero(t, dist.at(gicdISENABLER))

	GICEnable(40)
	require.EqualValues(t, 1<<8, dist.at(gicdISENABLER+4))
	require.EqualValues(t, 1<<8, dist.at(gicdIGROUPR+4))
	gicVersion = 0
}

func TestPL011PutByte(t *testing.T) {
	uart := newRegs(0x100)
	SetUART(uart.base())
	defer SetUART(EarlyUART)
	PutByte('A')
	require.EqualValues(t, 'A', uart.at(uartDR))
}
