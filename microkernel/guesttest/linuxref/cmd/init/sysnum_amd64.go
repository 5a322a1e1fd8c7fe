//go:build linux

package main

// sysFinitModule is finit_module(2) on amd64 (so the program also builds
// and vets on an x86-64 host).
const sysFinitModule = 313
