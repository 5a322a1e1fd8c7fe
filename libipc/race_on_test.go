//go:build race

package libipc_test

// raceEnabled: the race detector makes sync.Pool drop items on purpose, so
// pooled paths allocate and allocation promises cannot be checked.
const raceEnabled = true
