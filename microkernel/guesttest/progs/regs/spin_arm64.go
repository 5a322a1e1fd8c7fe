package main

// spin fills the registers from seed, spins rounds times checking them, and
// returns 0 or the number (1..30) of the first register that changed
// (spin_arm64.s).
func spin(seed, rounds uint64) uint64
