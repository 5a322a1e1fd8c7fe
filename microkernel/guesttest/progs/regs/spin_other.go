//go:build !arm64

package main

// spin on other architectures only spins: the register check is arm64's.
func spin(seed, rounds uint64) uint64 {
	x := seed
	for i := uint64(0); i < rounds/1000; i++ {
		x = x*6364136223846793005 + 1
	}
	if x == 0 {
		return 31
	}
	return 0
}

// spinFP on other architectures only spins too.
func spinFP(seed, rounds uint64, buf *byte) uint64 { return spin(seed, rounds) }
