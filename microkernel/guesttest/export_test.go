package guesttest

import (
	"testing"

	"armos/servers/netd/link/peertest"
)

// KernelForTest gives the external test package (procbench_test.go, which
// imports linuxref, which imports this package) the kernel built once per
// test binary.
func KernelForTest(tb testing.TB) string { return kernel(tb) }

// StartDnsmasq starts dnsmasq in ns on the tap's Linux side as TestDNS
// does (the zone test), with extra arguments, for BenchmarkDHCPDNS; it is
// stopped when tb ends.
func StartDnsmasq(tb testing.TB, ns *peertest.NS, extra ...string) { newDnsmasq(tb, ns, extra...) }
