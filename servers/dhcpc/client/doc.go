// Package client is dhcpc's DHCP client engine (RFC 2131): a passive state
// machine in the style of netd's stack. It owns no goroutine, timer or
// socket and never reads the wall clock; its owner calls, from one
// goroutine,
//
//	c.Start()                      // INIT, or INIT-REBOOT with a remembered lease
//	c.Input(datagram, from)        // every UDP datagram received on port 68
//	c.Tick()                       // when c.NextDeadline() has passed
//	c.ProbeResult(addr, conflict)  // the answer to Prober.Probe (RFC 5227)
//	c.Release()                    // on shutdown
//
// Messages go out through Output.Send as Packets that say which source and
// destination address to use (broadcast or unicast to the server, RFC 2131
// table 5). Time comes from an injected Clock and randomness (transaction
// IDs, the start delay, the ±1 s retransmission jitter) from an injected
// Rand, so every timing is tested on a fake clock. Handler hears of leases
// obtained, renewed and lost; netd's address, prefix, gateway, MTU and DNS
// servers are configured from the Lease.
//
// Every datagram passed to Input ends in Counters.Rx.Accepted or exactly
// one Rx drop counter; nothing panics on any input (FuzzInput).
package client
