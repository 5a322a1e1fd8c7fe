// Package resolver is the engine of resolved, armos's caching DNS resolver:
// Go programs send it ordinary DNS queries (through net.Resolver with
// PreferGo and a Dial that reaches resolved) and it answers them from its
// cache or by asking upstream servers.
//
// Engine is passive, in the style of netd's stack: it owns no goroutines
// and never reads the wall clock. Its owner calls, from one goroutine,
//
//	e.Lookup(name, type, done)      resolve; done runs when the answer is known
//	e.Answer(query, stream, reply)  answer a client's query message
//	e.Input(attempt, from, msg)     a datagram from an upstream server
//	e.Tick()                        when e.NextDeadline() has passed
//
// and the engine sends its queries through the Upstream it was given.
// Time comes from an injected Clock, so timeouts, retries and TTL expiry are
// tested without sleeping. Server runs an Engine with goroutines around it
// (client connections, an upstream transport, a timer); UDPTransport is
// the Upstream over UDP sockets, from Go's net package on a host or from
// libsocket on armos.
//
// Against forged answers every query has a random 16-bit ID, a source port
// of its own when the transport can (UDPTransport binds each query's socket
// to a random port) and its name in randomly mixed case (0x20); an answer
// is taken only from the server asked, with the ID and the question
// exactly as sent. Everything else is dropped and counted (Counters).
//
// Everything is bounded: the cache (entries, bytes, negative entries), the
// lookups in flight and the clients waiting on each, CNAME chains, tries
// and live sockets per lookup. See docs/dns.md.
package resolver
