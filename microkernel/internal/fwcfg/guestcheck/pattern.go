package main

// Pattern is the test file's byte at offset i: the top byte of a
// multiplicative hash, so every offset bit matters and a read from the
// wrong offset shows.
//
//go:nosplit
func Pattern(i uint64) byte { return byte((i * 0x9e3779b97f4a7c15) >> 56) }
