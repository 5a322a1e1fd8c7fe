package main

// spin fills the registers from seed, spins rounds times checking them, and
// returns 0 or the number (1..30) of the first register that changed
// (spin_arm64.s).
func spin(seed, rounds uint64) uint64

// spinFP fills V0-V31 from seed, spins rounds times checking them (with a
// system call that copies through the kernel's SIMD registers every 256
// rounds), and returns 0 or 1 + the number of the first V register that
// changed (spinfp_arm64.s).
func spinFP(seed, rounds uint64, buf *byte) uint64
