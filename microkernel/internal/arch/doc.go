// Package arch holds armos's board layer for QEMU virt on ARMv8-A: system
// register accessors, MMIO, the PL011 UART, the GIC (v2 and v3), the generic
// timer and PSCI.
//
// Everything here may run in the trap context (on the exception stack with
// interrupts masked), so every function is small, allocation-free and uses
// no locks, interfaces or maps. Assembly lives in .go/.s pairs
// (sysreg_arm64.go/.s); on other architectures sysreg_other.go provides
// inert stand-ins so that host builds and host tests compile.
//
// Register names and bit positions are spelled as in the Arm Architecture
// Reference Manual for A-profile (DDI 0487, "Arm ARM"), the GIC architecture
// specification (IHI 0069, "GICv3/v4") and the GIC-400 / GICv2 specification
// (IHI 0048B), the PL011 TRM (DDI 0183) and the PSCI specification (DEN 0022).
package arch
