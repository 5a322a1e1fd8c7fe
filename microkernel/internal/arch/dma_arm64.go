package arch

// Defined in dma_arm64.s: 16-bit MMIO and the barriers a driver needs
// around device DMA (Arm ARM DDI 0487, B2.3 "Definition of the Armv8
// memory model" and C6.2.81 DSB).

// Write16 stores a 16-bit device register (STRH), for devices such as
// QEMU's fw_cfg whose selector register accepts only 2-byte writes.
func Write16(addr uintptr, v uint16)

// DMAWriteBarrier is DSB ST: every store issued before it (for example a
// DMA descriptor or buffer in normal memory) has completed before any
// memory access after it, in particular the MMIO write that starts the
// device. Call it between filling memory the device will read and the
// doorbell write.
func DMAWriteBarrier()

// DMAReadBarrier is DSB LD: every load issued before it (for example the
// one that saw the device report completion) has completed before any
// memory access after it, so data the device wrote is not read early. Call
// it after observing completion and before reading the DMA'd data.
func DMAReadBarrier()
