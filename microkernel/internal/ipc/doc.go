// Package ipc is the armos kernel's IPC object model: handle tables,
// channels with calls and deferred replies, wait sets, interrupts, timers,
// shared memory and process exit. It is pure Go and tested on the host;
// the syscall handlers for EL0 processes (ordinary kernel goroutines, not
// trap code) call it, so it uses Go locks and allocates, but every table
// and queue has a named bound and every drop is counted. docs/kernel-ipc.md
// has the draft system-call table built on it.
//
// # Objects and handles
//
// A process reaches kernel objects only through Handles in its Table
// (handle.go). A Handle is a slot index plus a generation: closing bumps
// the generation and freed slots are reused FIFO and only once the table
// is full (MaxHandles), so a stale value fails with EBADF rather than
// naming somebody else's object. Each handle carries Rights (read, write,
// duplicate, transfer, wait, map); Dup and transfer can only drop rights.
// Lookups check the handle (EBADF), the object Type (EPROTOTYPE) and the
// rights (EACCES; asking Dup for a right the handle lacks is EPERM).
// Errors are Errno values equal to Linux errno numbers (errno.go).
//
// Objects are reference counted (object.go): one reference per handle in
// a table and per handle travelling in a message. The last release runs
// the type's teardown — one file per type, as in seL4:
//
//	channel.go    Endpoint: one end of a channel; the endpoint state machine
//	reply.go      Reply: the one-shot reply capability of a Call
//	waitset.go    WaitSet: wait on many objects, level-triggered
//	interrupt.go  Interrupt: a device INTID, Signal from the IRQ path, Ack
//	timer.go      Timer: a deadline as a waitable object
//	shm.go        SharedMemory: physical pages, handles and mappings counted
//	process.go    Process: a handle table and an exit event
//	collect.go    Kernel.Collect: frees handle cycles stuck in queues
//
// # Channels
//
// A channel is two Endpoints. A message is up to MaxMessageBytes of data
// (copied in at Send, copied out at Recv) and up to MaxMessageHandles
// handles, moved out of the sender's table and into the receiver's. Each
// direction is a queue of at most QueueLen messages: Send never blocks and
// returns EAGAIN when the peer's queue is full (back-pressure; counted in
// EndpointStats.Full); a wait set reports SigWritable when there is room
// again. A send either fully happens or changes nothing: the handles stay
// in the sender's table on any error. Recv refuses, leaving the message
// queued, when the caller's buffers are too small (EMSGSIZE with the sizes
// needed) or its table is full (EMFILE).
//
// When an endpoint's last handle closes — explicitly, by transfer of a
// message that is then dropped, or because its process died — the peer
// sees SigPeerClosed at once: its Send fails with EPIPE, its Recv returns
// what is still queued and then ECONNRESET, and its blocked receivers
// wake. Messages still queued to the closed endpoint are dropped (counted
// in EndpointStats.Dropped and Stats.DroppedMessages) and the handles in
// them closed, so an endpoint lost in transit shows "peer closed" too.
//
// # Call, reply, hand-off
//
// Call is Send plus a wait for the answer in one operation. The request
// carries a fresh Reply object; the receiver gets a handle to it and
// answers with Table.Reply, immediately or later (deferred reply: the
// server keeps the reply handle, e.g. for a blocking recvfrom). The answer
// goes straight to the blocked caller, never through a queue, so it cannot
// meet a full queue, and it must fit the buffers the caller declared
// (EMSGSIZE otherwise, and the server may answer again with less). A
// reply capability dropped unanswered — closed, lost with a dropped
// request, or its holder dead — fails the call with EPIPE; a caller that
// gave up (its context ended) makes the late Reply fail with EPIPE, and
// the reply is dropped and counted.
//
// Direct hand-off: a receiver blocked in RecvWait registers itself on the
// endpoint with the buffer sizes it can take and table slots it reserved.
// A sender that finds such a receiver gives it the message directly: it
// is never queued, does not count against QueueLen, and the wake-up is a
// single channel send, which the Go scheduler serves by running the woken
// goroutine next on the sender's P (runnext) — the Go form of seL4's
// direct switch to the receiver. Endpoint.State exposes the state machine
// (Idle, Queued, RecvBlocked, PeerClosed, Closed); Queued and RecvBlocked
// exclude each other.
//
// # Waiting on many
//
// A WaitSet holds up to MaxWaitItems entries {object, signal mask, key}
// over channels (readable, writable, peer closed), interrupts and timers
// (signaled) and processes (exited). Wait returns ready keys and blocks
// while there are none, up to a deadline. Semantics are level-triggered:
// an entry is reported for as long as its condition holds, scanned round
// robin so that no entry starves the others. Objects carry their Signals
// in an atomic word and wake wait sets with a non-blocking send on a
// one-slot channel, so signalling takes no lock and does not allocate.
// Wait sets do not keep objects open; closed objects leave them.
//
// # Teardown and accounting
//
// Process.Exit destroys the process's table: every handle is closed, with
// the effects above on peers, callers and wait sets. Kernel keeps live
// counts per type, handles, queued messages and bytes, and shared pages
// (Stats); the tests check they all return to zero, including after random
// operation sequences (FuzzOps). One leak reference counting cannot see is
// a cycle of endpoints that only travel in each other's queues;
// Kernel.Collect finds and frees those by mark and sweep, as Linux does
// for descriptors in flight on unix sockets.
//
// # Locks
//
// Order: Kernel.xfer (shared by operations that move handles, exclusive
// in Collect), then a Table's mutex, then a channel's, then a Reply's or
// a WaitSet's. No lock is held while a reference is released, because a
// release may tear down further objects.
package ipc
