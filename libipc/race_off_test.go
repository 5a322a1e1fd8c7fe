//go:build !race

package libipc_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
