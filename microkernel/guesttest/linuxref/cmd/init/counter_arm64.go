//go:build linux

package main

// Defined in counter_arm64.s.

// counter returns the generic timer's virtual count (CNTVCT_EL0) and its
// frequency (CNTFRQ_EL0); Linux lets EL0 read both (for the vDSO).
func counter() (count, freq uint64)
