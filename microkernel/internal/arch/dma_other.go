//go:build !arm64

package arch

// Host stand-ins for dma_arm64.s, with hooks so host tests can emulate a
// device that reacts to register writes (as fw_cfg does) and check that
// barriers are issued where a driver needs them.

// hostWrite16 is SetHostWrite16Hook's observer (nil: none).
var hostWrite16 func(addr uintptr, v uint16)

// SetHostWrite16Hook makes every host Write16 call f first (nil removes
// it). It exists only off arm64.
func SetHostWrite16Hook(f func(addr uintptr, v uint16)) { hostWrite16 = f }

// Write16 stores to ordinary memory on the host.
func Write16(addr uintptr, v uint16) {
	if hostWrite16 != nil {
		hostWrite16(addr, v)
	}
	*(*uint16)(reg(addr)) = v
}

// hostBarrier is SetHostBarrierHook's observer (nil: none).
var hostBarrier func(write bool)

// SetHostBarrierHook makes DMAWriteBarrier call f(true) and DMAReadBarrier
// call f(false) on the host (nil removes it). It exists only off arm64.
func SetHostBarrierHook(f func(write bool)) { hostBarrier = f }

// DMAWriteBarrier only reports itself to the hook on the host.
func DMAWriteBarrier() {
	if hostBarrier != nil {
		hostBarrier(true)
	}
}

// DMAReadBarrier only reports itself to the hook on the host.
func DMAReadBarrier() {
	if hostBarrier != nil {
		hostBarrier(false)
	}
}
