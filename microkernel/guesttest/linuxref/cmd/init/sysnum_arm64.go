//go:build linux

package main

// sysFinitModule is finit_module(2) on arm64 (the generic syscall table);
// package syscall does not name it for every architecture.
const sysFinitModule = 273
