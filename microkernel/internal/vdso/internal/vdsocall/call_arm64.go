package vdsocall

// Call calls the C-ABI function at fn with a0 in x0 and a1 in x1 and
// returns x0. clobbered is non-zero if fn changed a register AAPCS64 makes
// it keep: it holds the XOR of the expected and found values of x19–x23
// (set to known patterns), x28 (g), x29 (frame pointer) and SP, ORed
// together. fn must be a leaf that uses no stack of the caller's (the vDSO
// functions are), as it runs on the goroutine stack.
//
//go:noescape
func Call(fn, a0, a1 uintptr) (r0 uintptr, clobbered uint64)

// CallFast is Call without the register checks, for benchmarks.
//
//go:noescape
func CallFast(fn, a0, a1 uintptr) (r0 uintptr)

// Counter reads CNTVCT_EL0 after an ISB, as the vDSO does.
func Counter() uint64

// Frequency reads CNTFRQ_EL0.
func Frequency() uint64

// SyncICache makes n bytes of instructions written at addr through the data
// side visible to instruction fetch: DC CVAU and IC IVAU over the range
// (line sizes from CTR_EL0), with the DSBs and ISB between. Linux lets EL0
// do this (SCTLR_EL1.UCI, UCT).
func SyncICache(addr, n uintptr)
