package arch

// CNTV_CTL_EL0 bits (Arm ARM DDI 0487, "CNTV_CTL_EL0, Counter-timer Virtual
// Timer Control register").
const (
	TimerEnable = 1 << 0 // ENABLE
	TimerIMask  = 1 << 1 // IMASK: interrupt masked
)

// ArmTimer fires the virtual timer interrupt when the counter reaches deadline.
//
//go:nosplit
func ArmTimer(deadline uint64) { SetTimer(deadline, TimerEnable) }

// DisarmTimer stops the virtual timer from asserting its interrupt.
//
//go:nosplit
func DisarmTimer() { SetTimer(^uint64(0), TimerEnable|TimerIMask) }
