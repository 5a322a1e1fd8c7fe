// Package tcptest holds the test doubles for the TCP engine: Link, a
// simulated network between engines that injects loss, duplication,
// reordering, corruption, delay and a bottleneck queue, all drawn from a
// seeded generator on a fake clock, so a run is reproducible and never
// sleeps; Recorder, an Output that keeps what one engine sends, for tests
// that play the peer by hand; and Segment, which builds a checksummed
// segment to inject.
//
// A typical transfer test:
//
//	l := tcptest.NewLink(tcptest.Faults{Loss: 0.02, Seed: 1})
//	a := l.NewStack(addrA, tcp.Config{})
//	b := l.NewStack(addrB, tcp.Config{})
//	ln, _ := b.Listen(netip.AddrPortFrom(addrB, 80), 8)
//	c, _ := a.Connect(netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, 80))
//	ok := l.Run(time.Hour, func() bool { ...move data...; return done })
package tcptest
