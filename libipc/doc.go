// Package libipc is the user-side IPC layer of armos: msgpack message
// framing, connections with request/reply matching, a server skeleton, and an
// in-memory transport with the semantics of the kernel's channels (used by
// hosted tests; the same API will run over kernel channels).
//
// # API summary
//
// Framing (envelope.go, codec.go, errors.go):
//
//	type Header struct{ Version uint8; Kind Kind; Op Op; ID uint32 }
//	AppendMessage(dst []byte, h Header, body any) ([]byte, error)
//	ParseHeader(msg []byte) (Header, body []byte, error)
//	DecodeBody(body []byte, v any) error        // strict; errors are *FrameError
//	DecodeMessage(msg []byte, v any) (Header, error)
//	type Code uint16                            // errno-like; ErrPeerClosed, ErrWouldBlock, ...
//	type RemoteError struct{ Op Op; Code Code; Msg string }   // unwraps to Code
//	type FrameError struct{ Reason Reason; Op Op; Offset int; Err error }
//	CodeOf(err error) Code
//
// Transport (transport.go, mem.go, msgbuf.go, broker.go):
//
//	type Endpoint interface{ TrySend; Send(ctx); TryRecv; Recv(ctx); Close }
//	type Message struct{ Data []byte; Caps []Cap }   // ≤ MaxMessageSize bytes, ≤ MaxCaps caps
//	(*Message).Release(); MessageBufStats() BufStats // give a received buffer back
//	NewPair(capacity int) (*MemEndpoint, *MemEndpoint)
//	WaitAny(ctx, ws ...Waitable) (int, error)        // wait on many endpoints
//	NewBroker() *Broker; (*Broker).Register(name, accept func(Endpoint)); Unregister(name)
//	(*Broker).Connect(ctx, name) (Endpoint, error); ConnectWait(ctx, name)   // Broker is a Dialer
//
// Connections (conn.go, request.go):
//
//	NewConn(ep Endpoint) *Conn
//	(*Conn).Call(ctx, op, req, resp any) error
//	(*Conn).Send(ctx, op, msg any) error; TrySend(op, msg) error
//	(*Conn).Recv(ctx) (*Request, error); Done(); Err(); Close(); Stats()
//	(*Conn).CallCaps(ctx, op, req, resp, out []Cap) ([]Cap, error); SendCaps(...)
//	(*Request).Decode(v) / Reply(resp, caps...) / Fail(err) / ReleaseBody()
//
// Server skeleton (server.go):
//
//	mux := NewMux()
//	Handle[Req, Resp](mux, op, func(r *Request, req *Req) (*Resp, error))
//	HandleDeferred[Req, Resp](mux, op, func(r *Request, req *Req, reply *Reply[Resp]))
//	HandleOneway[Msg](mux, op, func(r *Request, msg *Msg))
//	mux.OnConnect(func(*Conn)); mux.OnDisconnect(func(*Conn, error))
//	srv := NewServer(mux); broker.Register("netd", srv.Accept); srv.Serve(ctx)
//	srv.Post(func()) bool; srv.TryPost(func()) error   // run fn on the dispatch goroutine
//	ServeNamed(ctx, reg Registrar, name, mux) error    // NewServer + Register + Serve
//
// # Messages
//
// Every message is a msgpack envelope, a fixarray [Version, Kind, Op, ID] of
// unsigned integers, followed by exactly one msgpack value, the body. Body
// types are Go structs defined once in a protocol package shared by client
// and server. Decoding is strict: a truncated message, bytes after the body,
// a value of the wrong type, a field the struct lacks, a message over
// MaxMessageSize, an unknown version or kind all give a *FrameError naming
// the Reason and byte offset; a server answers such a request with an error
// reply (KindError, body ErrorBody{Code, Msg}) and never panics.
//
// # Errors
//
// Error codes are Linux errno numbers (type Code, itself an error). Local
// failures return the Err* codes, wrapped with context; error replies arrive
// as *RemoteError, which unwraps to its Code, so errors.Is(err, ErrAddrInUse)
// works whether the error was made locally or by the server.
//
// # Connections and servers
//
// A Conn multiplexes concurrent Calls on one endpoint, matching replies by
// request ID. When the peer goes away every pending Call fails promptly with
// an error wrapping ErrPeerClosed. A Server runs all handlers of all its
// connections on one goroutine (seL4 microkit's model), so server state needs
// no locks; a handler that must wait (a blocking recvfrom) keeps its
// *Reply and answers later. Replies never block the server: when the
// client's queue is full they wait in a bounded outbox, then are dropped and
// counted.
//
// # Transport
//
// An Endpoint is one end of a bidirectional channel of bounded queues.
// Messages are bytes (at most MaxMessageSize) plus caps (at most MaxCaps);
// a full queue gives ErrWouldBlock (TrySend) or waits (Send); closing an end
// makes the other see ErrPeerClosed after draining, drops and counts what
// was queued for the closed end, and closes the caps inside. NewPair makes an
// in-memory channel; Broker brokers connections by service name, as init
// does under the kernel. docs/ipc.md describes all of this in more detail.
//
// # Costs
//
// The steady-state path reuses what it can: the in-memory transport copies
// Data into buffers from a bounded free list (BufFreeLen per size class) and
// the receiver owns a received buffer until it gives it back
// (Message.Release, Request.ReleaseBody) or drops it; Conn gives back reply
// buffers once decoded and the typed handler wrappers give back request
// buffers before calling the handler. Blocked Send/Recv calls wait on
// pooled one-token wake-up channels; reply slots of Call are pooled too. A
// Call round trip then allocates only the Request and what decoding the
// bodies needs (TestCallRoundTripAllocations holds the budget).
package libipc
