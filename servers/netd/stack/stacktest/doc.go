// Package stacktest holds test helpers for netd's stack and the servers built
// on it, in the style of gVisor's netstack tests: an in-memory Link that
// records what the stack transmits, a FakeClock the test advances by hand,
// frame builders for inbound packets, and composable checkers that assert
// the layers of an outbound frame (stacktest.Frame(t, frame, HasIPv4(src, dst, proto,
// HasUDP(sport, dport, data))) style).
//
// It imports only libipc/skbuff and netd/wire, not the stack itself, so the
// stack's own tests can use it.
package stacktest
