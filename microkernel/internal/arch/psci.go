package arch

// PSCI function IDs (Arm Power State Coordination Interface, DEN 0022D,
// table 5.1), SMC32 calling convention.
const (
	PSCISystemOff   = 0x84000008
	PSCISystemReset = 0x84000009
)

// psciSMC selects the conduit: QEMU virt uses HVC when the kernel is entered
// at EL1 and SMC when it is entered at EL2 (virtualization=on), as the DTB's
// /psci "method" says.
var psciSMC bool

// SetPSCIConduit chooses SMC (true) or HVC (false) for PSCI calls.
//
//go:nosplit
func SetPSCIConduit(smc bool) { psciSMC = smc }

// PSCI issues a PSCI call on the configured conduit.
//
//go:nosplit
func PSCI(fn uint64) uint64 {
	if psciSMC {
		return SMCCall(fn, 0, 0, 0)
	}
	return HVCCall(fn, 0, 0, 0)
}
