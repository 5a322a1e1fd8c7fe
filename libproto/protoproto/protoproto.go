// Package protoproto is the protocol-server protocol: the messages between
// netd's protocol service ("netd.proto") and a protocol server (tcpd, a toy
// protocol) that owns an IP protocol number. It is carried by libipc
// (msgpack bodies, strict decoding) like the socket protocol, and reuses its
// address encoding (sockproto.Addr, port 0) and error codes
// (sockproto.Errno, Linux values).
//
// Requests (server -> netd) are answered; deliveries (netd -> server) are
// one-way messages: netd never waits for a protocol server, and when the
// server's queue is full the delivery is dropped and counted, as a NIC
// drops on a full ring. See docs/protocol-server.md.
package protoproto

import (
	"net/netip"
	"strconv"

	"armos/libsocket/sockproto"
)

// ServiceName is the name under which netd registers the protocol service
// with init (and with a hosted broker).
const ServiceName = "netd.proto"

// ServiceFor returns the protocol service's name beside a socket service
// name: "netd.sockets" -> "netd.proto", "peer.sockets" -> "peer.proto".
func ServiceFor(sockets string) string {
	const suffix = ".sockets"
	if len(sockets) > len(suffix) && sockets[len(sockets)-len(suffix):] == suffix {
		return sockets[:len(sockets)-len(suffix)] + ".proto"
	}
	return sockets + ".proto"
}

// Op is a protocol-service operation: the op field of the libipc envelope.
type Op uint16

// Operations. Requests go from the protocol server to netd; OpDeliver and
// OpICMPError are one-way messages from netd to the server.
const (
	OpRegister   Op = 1 // RegisterReq -> RegisterResp; EADDRINUSE if owned (1 and 17 are netd's)
	OpUnregister Op = 2 // ProtoReq -> Empty; EINVAL if this connection does not own it
	// OpSend sends one IP datagram: SendReq -> Empty as a request (its
	// error comes back), or as a one-way message (errors only counted).
	OpSend Op = 3

	OpDeliver   Op = 16 // Datagram (one-way, netd -> server)
	OpICMPError Op = 17 // ICMPError (one-way, netd -> server)
	// OpStream hands a stream socket to the owner of protocol 6
	// (one-way, netd -> server): StreamConn, with one cap, an endpoint
	// whose other end the application holds (its OpSocket reply).
	OpStream Op = 18
	// OpInfo tells an owner that the interface changed (netd was
	// configured at run time, by DHCP say): InfoMsg, one-way, netd ->
	// server, once per protocol it owns.
	OpInfo Op = 19
)

// ProtoTCP is the protocol whose owner gets stream sockets (OpStream).
const ProtoTCP = 6

// String names the operation.
func (op Op) String() string {
	switch op {
	case OpRegister:
		return "register"
	case OpUnregister:
		return "unregister"
	case OpSend:
		return "send"
	case OpDeliver:
		return "deliver"
	case OpICMPError:
		return "icmperror"
	case OpStream:
		return "stream"
	case OpInfo:
		return "info"
	}
	return "op(" + strconv.Itoa(int(op)) + ")"
}

// Limits of the protocol.
const (
	// MaxPayload is the largest datagram payload: IPv4's 65,535 less a
	// 20-byte header. It fits one IPC message with room to spare.
	MaxPayload = 65535 - 20
	// MaxProtosPerConn bounds the protocol numbers one connection may own.
	MaxProtosPerConn = 8
)

// Reserved protocol numbers: never registrable.
const (
	ProtoICMP = 1  // netd's own
	ProtoUDP  = 17 // netd's own
)

// Registrable reports whether a server may ask for protocol num: not 0
// (IPv6 hop-by-hop, meaningless here), 255 (reserved), ICMP or UDP.
func Registrable(num uint8) bool {
	return num != 0 && num != 255 && num != ProtoICMP && num != ProtoUDP
}

// Empty is the body of replies that carry nothing.
type Empty struct{}

// ProtoReq names a protocol number.
type ProtoReq struct {
	Proto uint8 `msgpack:"proto"`
}

// RegisterReq asks for ownership of an IP protocol number.
type RegisterReq struct {
	Proto uint8 `msgpack:"proto"`
}

// RegisterResp describes the interface datagrams come in on: what a
// transport needs for its pseudo-header checksums and its MSS.
type RegisterResp struct {
	Addr sockproto.Addr `msgpack:"addr"` // the interface's IPv4 address (port 0)
	MTU  uint32         `msgpack:"mtu"`  // its IP MTU
	Dev  uint32         `msgpack:"dev"`  // its device id
	// TSOMax, when not zero, is the largest TCP segment (header and data)
	// netd takes with segmentation offload (SendReq.TSO).
	TSOMax uint32 `msgpack:"tsomax,omitempty"`
	// Room, when not zero, is how many bytes netd would like a large
	// SendReq to carry in Room: with them in front of the payload, it
	// builds the frame around the payload in the message it received
	// rather than copying the payload into a frame of its own.
	Room uint16 `msgpack:"room,omitempty"`
}

// SendReq is one datagram to send. netd routes it (the gateway for
// destinations off the subnet), resolves the next hop with ARP (queueing
// it meanwhile) and fragments it unless DF is set.
type SendReq struct {
	Proto uint8          `msgpack:"proto"` // a number this connection owns
	Src   sockproto.Addr `msgpack:"src"`
	Dst   sockproto.Addr `msgpack:"dst"`
	TTL   uint8          `msgpack:"ttl,omitempty"` // 0: netd's default (64)
	TOS   uint8          `msgpack:"tos,omitempty"`
	DF    bool           `msgpack:"df,omitempty"` // don't fragment: EMSGSIZE when over the MTU
	// Room is padding, whatever its bytes, encoded just before Data:
	// space netd may overwrite with the frame's headers
	// (RegisterResp.Room). It changes nothing else.
	Room []byte `msgpack:"room,omitempty"`
	Data []byte `msgpack:"data"` // the transport segment, checksummed by the sender
	// TSO, when not zero, asks for TCP segmentation offload: Data is one
	// TCP segment (Proto 6) of at most TSOMax bytes whose data netd (or
	// the NIC) cuts into segments of at most TSO bytes, PSH and FIN on the
	// last one only; its checksum need not be filled in. EINVAL when
	// Data is not a TCP segment or a piece would exceed the MTU.
	TSO uint16 `msgpack:"tso,omitempty"`
	// DataMore, on the sender's side only, continues Data: AppendMsgpack
	// writes Data and these pieces as one bin, the encoding of a SendReq
	// whose Data is their concatenation (so tcpd hands a segment's header
	// and its send buffer's bytes to the encoder without joining them
	// first). The general encoder does not know it: a SendReq with pieces
	// goes through AppendMsgpack (libipc.BodyAppender) only.
	DataMore [][]byte `msgpack:"-"`
}

// MsgSizeHint is about the encoded size (libipc.SizeHinter), so a 64 KB
// offloaded segment is encoded into a buffer that holds it at once.
func (r *SendReq) MsgSizeHint() int { return r.dataLen() + 64 }

// dataLen is the length of Data and DataMore together.
func (r *SendReq) dataLen() int {
	n := len(r.Data)
	for _, p := range r.DataMore {
		n += len(p)
	}
	return n
}

// Datagram is a received datagram of an owned protocol (OpDeliver).
type Datagram struct {
	Proto uint8          `msgpack:"proto"`
	Src   sockproto.Addr `msgpack:"src"`
	Dst   sockproto.Addr `msgpack:"dst"`
	TTL   uint8          `msgpack:"ttl"`
	TOS   uint8          `msgpack:"tos,omitempty"`
	Bcast bool           `msgpack:"bcast,omitempty"` // sent to a broadcast address: never answer with an error
	Dev   uint32         `msgpack:"dev"`
	MTU   uint32         `msgpack:"mtu"`
	Hdr   []byte         `msgpack:"hdr"`  // the IPv4 header (the first fragment's if reassembled)
	Data  []byte         `msgpack:"data"` // the payload, reassembled
}

// MsgSizeHint is about the encoded size (libipc.SizeHinter).
func (d *Datagram) MsgSizeHint() int { return len(d.Hdr) + len(d.Data) + 96 }

// ICMPError is an ICMP error about a datagram the server sent (OpICMPError).
type ICMPError struct {
	Proto   uint8          `msgpack:"proto"`
	From    sockproto.Addr `msgpack:"from"`
	Type    uint8          `msgpack:"type"`
	Code    uint8          `msgpack:"code"`
	MTU     uint32         `msgpack:"mtu,omitempty"` // next-hop MTU of "fragmentation needed"
	Pointer uint8          `msgpack:"ptr,omitempty"` // parameter problem
	Src     sockproto.Addr `msgpack:"src"`           // the quoted datagram's source (ours)
	Dst     sockproto.Addr `msgpack:"dst"`           // and destination
	Quote   []byte         `msgpack:"quote"`         // the quoted IPv4 header and payload
}

// InfoMsg is the interface as an owner of Proto sees it now (what
// RegisterResp said at registration).
type InfoMsg struct {
	Proto uint8          `msgpack:"proto"`
	Addr  sockproto.Addr `msgpack:"addr"` // 0.0.0.0 while unconfigured
	MTU   uint32         `msgpack:"mtu"`
	Dev   uint32         `msgpack:"dev"`
	// TSOMax as in RegisterResp.
	TSOMax uint32 `msgpack:"tsomax,omitempty"`
}

// StreamConn accompanies a stream socket handed to the stream server.
type StreamConn struct {
	Proto uint8 `msgpack:"proto"` // ProtoTCP
}

// IP returns a's address as a protocol-service address (port 0).
func IP(a netip.Addr) sockproto.Addr {
	if !a.IsValid() {
		return sockproto.Addr{}
	}
	return sockproto.AddrFrom(netip.AddrPortFrom(a, 0))
}

// IPv4Of returns the IPv4 address in a, and false if a is not an IPv4
// address with port 0.
func IPv4Of(a sockproto.Addr) (netip.Addr, bool) {
	ap := a.AddrPort()
	if !ap.IsValid() || !ap.Addr().Is4() || ap.Port() != 0 {
		return netip.Addr{}, false
	}
	return ap.Addr(), true
}
