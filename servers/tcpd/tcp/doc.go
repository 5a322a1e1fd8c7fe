// Package tcp is tcpd's TCP engine (RFC 9293): connections and listeners
// for one host, driven by the caller. It knows nothing of IPC or netd: it
// takes segments and ICMP errors in, sends segments out through an
// Output, and reads time from a Clock.
//
// # Model
//
// The engine is passive and single-goroutine, like netd's stack: no
// goroutines, no timers, no wall clock. Its owner calls, from one
// goroutine,
//
//   - Input(src, dst, segment) for every TCP segment netd delivers,
//   - ICMPError(message) for every ICMP error quoting a TCP segment,
//   - Tick() once NextDeadline() has passed,
//   - the API: Listen, Connect, Listener.Accept/Close and the Conn
//     methods (Read, Write, CloseWrite, Close, Abort, SetNoDelay,
//     SetKeepAlive, Readiness, Info).
//
// Readiness callbacks (SetNotify) run at the end of the call that changed
// something, on the same goroutine, and may call the API.
//
// # Files
//
//	stack.go       the table, Input's dispatch, RSTs for strangers, Tick
//	listener.go    LISTEN: SYN and accept queues; Connect
//	input.go       segment arrival (RFC 9293 3.10.7, RFC 5961)
//	output.go      sending: windows, Nagle, SWS, ACKs, the SYN
//	timers.go      retransmission (RFC 6298), persist, delayed ACK,
//	               keep-alive, TIME-WAIT
//	congestion.go  slow start, congestion avoidance, NewReno (RFC 5681, 6582)
//	icmp.go        ICMP errors (RFC 1122, 5461, 5927, 1191)
//	conn.go        the TCB and the per-connection API
//	ring.go        bounded send and receive buffers
//	assembler.go   out-of-order bookkeeping
//	seq.go         sequence arithmetic modulo 2^32
//	isn.go         ISNs (RFC 6528) and ephemeral ports (RFC 6056)
//	counters.go    netstat -s counters
//	invariants.go  the consistency check tests run after every step
//
// docs/tcp.md describes the design and its choices; package tcptest has
// the fault-injecting link the tests run transfers over.
package tcp
