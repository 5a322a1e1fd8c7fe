//go:build !(linux && (amd64 || arm64))

package stack

import "crypto/rand"

// readRandom fills b from crypto/rand where netd has no getrandom number.
func readRandom(b []byte) error {
	_, err := rand.Read(b)
	return err
}
