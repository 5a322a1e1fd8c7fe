package sockproto

import "strconv"

// ServiceName is the name under which netd registers the socket service
// with the broker (init); libsocket asks for it to get a connection.
const ServiceName = "netd.sockets"

// Op is a socket operation: the op field of the libipc envelope.
type Op uint16

// Socket operations. Each lists its request and reply bodies.
const (
	OpSocket      Op = 1 + iota // SocketReq -> SocketResp
	OpBind                      // BindReq -> AddrResp (the bound address)
	OpConnect                   // ConnectReq -> AddrResp (the local address)
	OpSendTo                    // SendToReq -> SendToResp
	OpRecvFrom                  // RecvFromReq -> RecvFromResp (may be deferred)
	OpGetSockName               // HandleReq -> AddrResp
	OpGetPeerName               // HandleReq -> AddrResp
	OpSetSockOpt                // SetSockOptReq -> Empty
	OpGetSockOpt                // GetSockOptReq -> GetSockOptResp
	OpClose                     // HandleReq -> Empty
	OpCancel                    // CancelReq -> Empty (ends a parked recvfrom with ECANCELED)
	OpPing                      // PingReq -> PingResp (deferred until the echo reply or the timeout)
	opEnd                       // first unused op
)

var opNames = [...]string{
	OpSocket:      "socket",
	OpBind:        "bind",
	OpConnect:     "connect",
	OpSendTo:      "sendto",
	OpRecvFrom:    "recvfrom",
	OpGetSockName: "getsockname",
	OpGetPeerName: "getpeername",
	OpSetSockOpt:  "setsockopt",
	OpGetSockOpt:  "getsockopt",
	OpClose:       "close",
	OpCancel:      "cancel",
	OpPing:        "ping",
}

// Valid reports whether op is a defined operation.
func (op Op) Valid() bool { return op >= OpSocket && op < opEnd }

// String returns the BSD name of the operation ("recvfrom").
func (op Op) String() string {
	if op.Valid() {
		return opNames[op]
	}
	return "op(" + strconv.Itoa(int(op)) + ")"
}
