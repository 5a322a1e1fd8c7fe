package ipc

import (
	"math/rand"
	"testing"
)

// TestRandomOpsStress runs FuzzOps's body over pseudo-random sequences
// (fixed seed) so plain `go test` covers far more than the seed corpus.
func TestRandomOpsStress(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	n := 2000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		ops := make([]byte, r.Intn(300))
		r.Read(ops)
		runOps(t, ops)
	}
}
