package arch

// PL011 UART registers (ARM PrimeCell UART (PL011) TRM, DDI 0183, 3.2).
const (
	uartDR     = 0x000  // UARTDR: data register
	uartFR     = 0x018  // UARTFR: flag register
	uartFRTXFF = 1 << 5 // UARTFR.TXFF: transmit FIFO full
	uartFRRXFE = 1 << 4 // UARTFR.RXFE: receive FIFO empty
	uartIMSC   = 0x038  // UARTIMSC: interrupt mask set/clear
	uartICR    = 0x044  // UARTICR: interrupt clear
	uartRXIM   = 1 << 4 // receive interrupt
	uartRTIM   = 1 << 6 // receive timeout interrupt (bytes waiting below the FIFO level)
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

// UARTEnableRX makes the UART interrupt when input arrives.
//
//go:nosplit
func UARTEnableRX() { Write32(uartBase+uartIMSC, uartRXIM|uartRTIM) }

// GetByte takes one received byte, if there is one.
//
//go:nosplit
func GetByte() (byte, bool) {
	if Read32(uartBase+uartFR)&uartFRRXFE != 0 {
		return 0, false
	}
	return byte(Read32(uartBase + uartDR)), true
}

// UARTClearRX acknowledges the UART's receive interrupts.
//
//go:nosplit
func UARTClearRX() { Write32(uartBase+uartICR, uartRXIM|uartRTIM) }
