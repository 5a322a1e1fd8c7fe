// Package vdsocall calls vDSO functions from Go on arm64, for the vdso
// package's tests and benchmarks: a trampoline that passes two arguments in
// x0/x1 under AAPCS64 and reports whether the callee broke a register it
// must keep, plus EL0 access to the generic timer and I-cache maintenance
// for code written to memory.
package vdsocall
