// Command guestcheck checks package fwcfg against QEMU's real fw_cfg
// device. It is a tiny bare-metal linux/arm64 ELF (no Go runtime: an
// assembly entry sets up a stack, FP/SIMD access and a 1:1 MMU map, then
// calls one nosplit Go function) that QEMU boots as -kernel. It probes
// the device at 0x09020000 with fwcfg.Probe, finds the file
// opt/armos/test with Find, runs SelfTest, reads ranges of it with
// ReadAt (checking them against Pattern) and CopyAt, checks that
// opt/armos/image, if present, starts with a cpio magic, prints what it
// saw on the PL011 console and powers off with PSCI. The host test in
// this directory builds it and runs it; it needs qemu-system-aarch64.
//
// Build and run by hand:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -ldflags '-T 0x40201000 -E main.entry -R 0x1000' -o /tmp/guestcheck.elf ./microkernel/internal/fwcfg/guestcheck
//	qemu-system-aarch64 -M virt -cpu cortex-a72 -m 128M -nographic -net none -no-reboot \
//	    -kernel /tmp/guestcheck.elf -fw_cfg name=opt/armos/test,file=PATTERN_FILE
//
// where PATTERN_FILE holds Pattern(i) at every offset i.
package main

func main() {} // never runs: the ELF entry point is entry (entry_arm64.s)
