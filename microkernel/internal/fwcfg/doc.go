// Package fwcfg drives QEMU's firmware configuration device (fw_cfg) in
// its MMIO form, as QEMU's arm virt machine provides it: the DTB node
// fw-cfg@9020000, compatible "qemu,fw-cfg-mmio", reg 0x18 bytes,
// dma-coherent. armos uses it to read its boot image, which QEMU loads
// from the host with
//
//	-fw_cfg name=opt/armos/image,file=out/armos.img
//
// Everything here follows QEMU's docs/specs/fw_cfg.rst and the device
// model hw/nvram/fw_cfg.c (QEMU 7.2):
//
//   - Registers (all big-endian): data at +0 (reads of 1..8 bytes return
//     the selected item's next bytes in order), selector at +8 (16 bits,
//     write-only; only 2-byte writes are accepted), DMA address at +16 (64
//     bits; reads return "QEMU CFG" when DMA is present; writing the low
//     half at +20 starts an operation, after the high half at +16).
//   - Items are selected by a 16-bit key: 0x0000 signature "QEMU",
//     0x0001 feature bitmap (little-endian; bit 1 = DMA interface),
//     0x0019 file directory (big-endian count, then 64-byte entries
//     {size BE32, select BE16, reserved 16, name[56] NUL-terminated}),
//     files from 0x0020 on. Directory order, and so a file's key, is
//     QEMU's business: always look a file up by name.
//   - A DMA operation is a 16-byte FWCfgDmaAccess in guest memory
//     {control BE32, length BE32, address BE64}; control bits: 0 error,
//     1 read, 2 skip, 3 select (key in bits 31:16), 4 write. Select
//     happens first; then one of read (copy length bytes of the item at
//     the current offset to address; past the item's end the device
//     writes zeros), write or skip (advance the offset). The device writes
//     control back as 0 on success or with the error bit. QEMU completes
//     the operation during the triggering register write; the spec keeps
//     the right to finish later, so the driver polls (bounded).
//   - An item is at most 4 GiB - 2 bytes (QEMU asserts len < UINT32_MAX:
//     a 4 GiB - 1 byte file aborts QEMU at startup); names are at most 55
//     bytes.
//
// Confirmed against QEMU 7.2 (qemu-system-aarch64 -M virt, see
// guestcheck/): the device is at 0x09020000 (info qtree: fw_cfg_mem,
// data_width 8, dma_enabled true, x-file-slots 32; mmio 0x09020000/8
// data, 0x09020008/2 selector, 0x09020010/8 DMA); features read 0x3; a
// 100,000,000-byte file reads back correctly at any offset; QEMU already
// has about ten files of its own (etc/acpi/tables, bootorder, ...) in the
// 32 slots, and a user file's key is not fixed (0x29, 0x2a seen). QEMU
// reads the whole file into its own memory at startup (-trace
// fw_cfg_add_file shows each file and size), not into guest RAM. Other
// command-line forms: -fw_cfg name=NAME,string=TEXT (no NUL appended).
//
// The data path (ReadAt, CopyAt, Find, SelfTest) runs in trap context:
// every function is //go:nosplit, allocation-free, uses no interfaces,
// maps, locks or defer, and returns an Errno. Device register access goes
// through internal/arch (Write16, Read32/Write32, Read64); so do the
// descriptor's fields, which are plain memory but must be written with
// exact widths and in order. Memory ordering, for real hardware (on QEMU
// TCG the device is coherent and synchronous): arch.DMAWriteBarrier (DSB
// ST) after filling the descriptor and before the trigger write, so the
// device sees the descriptor; arch.DMAReadBarrier (DSB LD) after the poll
// that sees completion, so data the device wrote is not read early. The
// node is dma-coherent, so no cache maintenance is needed.
//
// A Device is not safe for concurrent use: the device has one selector
// and one offset, and the descriptor is shared. Callers serialize (one
// CPU with interrupts masked, or a lock). armos runs little-endian: the
// big-endian fields are byte-swapped loads and stores.
package fwcfg
