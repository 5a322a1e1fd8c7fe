package arch

// PL011 UART registers (ARM PrimeCell UART (PL011) TRM, DDI 0183, 3.2).
const (
	uartDR     = 0x000  // UARTDR: data register
	uartFR     = 0x018  // UARTFR: flag register
	uartFRTXFF = 1 << 5 // UARTFR.TXFF: transmit FIFO full
)

// EarlyUART is the PL011 address used before the device tree has been read
// (QEMU virt places its first UART there). SetUART replaces it with the
// address from the DTB.
const EarlyUART = 0x09000000

var uartBase uintptr = EarlyUART

// SetUART selects the PL011 that console output goes to.
//
//go:nosplit
func SetUART(base uintptr) { uartBase = base }

// PutByte writes one byte to the UART, polling until the FIFO has room.
//
//go:nosplit
func PutByte(c byte) {
	for Read32(uartBase+uartFR)&uartFRTXFF != 0 {
	}
	Write32(uartBase+uartDR, uint32(c))
}
