package main

// Defined in boot_arm64.s.

// boot is the kernel's ELF entry point.
func boot()
