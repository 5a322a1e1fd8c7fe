package guesttest

import "testing"

// KernelForTest gives the external test package (procbench_test.go, which
// imports linuxref, which imports this package) the kernel built once per
// test binary.
func KernelForTest(tb testing.TB) string { return kernel(tb) }
