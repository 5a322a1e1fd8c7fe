// Package sockets is the socket service inside netd: it answers the socket
// protocol (package libsocket/sockproto) from applications by driving UDP
// endpoints of netd's stack (package servers/netd/stack).
//
// # The event loop
//
// netd is single-threaded in the microkit sense: one goroutine, the event
// loop, owns the stack and every socket, so neither needs locks. The loop
// is the dispatch goroutine of the service's libipc.Server (Service.Run),
// and every kind of work reaches it as an event in the server's one bounded
// queue (libipc.DispatchQueueLen):
//
//   - IPC requests: each client connection has a reader goroutine (inside
//     libipc) that decodes envelopes and queues requests; the loop runs the
//     handler for each, in arrival order per connection.
//   - Link frames: the link's reader goroutine (netd's main) calls
//     Service.Post(func() { stack.Input(frame) }). Input may queue a datagram
//     on an endpoint, whose notify callback answers a parked receive at once,
//     still on the loop.
//   - Timers: after every event the loop computes the earliest of the
//     stack's NextDeadline and the deadlines of parked receives, and arms one
//     time.Timer for it; when it fires it posts a tick, which runs
//     stack.Tick and times out due receives. Time itself always comes from
//     the injected stack.Clock, so with a fake clock a test advances the
//     clock and calls Service.Kick instead of sleeping.
//   - Connection ends: libipc posts a disconnect after a connection's last
//     request; the service then closes that client's sockets, freeing their
//     ports, and drops its parked receives.
//
// When the queue is full, connection readers and Post callers wait, so
// back-pressure reaches clients through their bounded IPC queues and the
// link through its driver's ring; nothing grows without bound.
//
// # Blocking receives
//
// A recvfrom that finds the socket's queue empty (and is allowed to wait)
// is parked: the service keeps its libipc.Request and answers it later, when
// a datagram arrives, when its timeout passes (ETIMEDOUT), when it is
// cancelled (OpCancel, ECANCELED) or when the socket is closed (EBADF).
// Parked receives are served first-come first-served; at most
// MaxParkedPerSocket wait on one socket.
//
// # Bounds
//
// Everything a client can make the service hold is bounded by a named
// constant and its refusals are counted in Stats: connections by MaxClients
// (the next is sent an ENFILE report and closed; RefusedClients), sockets
// per connection by sockproto.MaxSocketsPerConn (EMFILE; SocketsRefused),
// parked receives per socket by MaxParkedPerSocket (ENOBUFS; ParkRefused),
// and each socket's receive queue by its OptRecvQueue (drops counted by the
// endpoint and the stack).
//
// Handles are per connection: a handle number means nothing on another
// connection (EBADF), so one application cannot touch another's sockets.
//
// See docs/sockets.md for the protocol table and the error codes.
package sockets
