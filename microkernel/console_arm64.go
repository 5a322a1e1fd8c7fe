package main

import (
	"armos/microkernel/internal/fdt"
	"armos/microkernel/internal/rt"
)

// consoleInput turns on console input: bytes typed on the PL011 reach
// processes reading the console (the serial shell), through the UART's
// receive interrupt from the device tree.
func consoleInput(m *fdt.Machine) {
	if m.HasUART && m.UART.IRQ.INTID >= 32 {
		rt.EnableConsoleInput(m.UART.IRQ.INTID)
	}
}
