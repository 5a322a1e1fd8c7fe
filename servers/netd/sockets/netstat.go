package sockets

import (
	"cmp"
	"net/netip"
	"slices"

	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

// SocketInfo describes one open socket, for `netstat`.
type SocketInfo struct {
	Client   uint64           // connection number (in order of connection)
	Handle   sockproto.Handle // the client's handle
	Local    netip.AddrPort   // bound address; invalid while unbound
	Peer     netip.AddrPort   // connected peer; invalid if none
	Queued   int              // datagrams waiting
	QueueLen int              // receive queue bound
	Parked   int              // receives waiting
	Stats    stack.EndpointStats
}

// Sockets lists the open sockets, ordered by client then handle. It must
// run on the event loop (inside Post), like every use of the stack.
func (s *Service) Sockets() []SocketInfo {
	var out []SocketInfo
	for cl := range s.clients {
		for _, sk := range cl.socks {
			info := SocketInfo{Client: cl.id, Handle: sk.h, Parked: len(sk.waiters), QueueLen: sk.queueLen}
			if info.QueueLen == 0 {
				info.QueueLen = stack.UDPDefaultQueueLen
			}
			if sk.ep != nil {
				info.Local, info.Peer = sk.ep.LocalAddr(), sk.ep.RemoteAddr()
				info.Queued, info.QueueLen, info.Stats = sk.ep.Len(), sk.ep.QueueLen(), sk.ep.Stats()
			}
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b SocketInfo) int {
		return cmp.Or(cmp.Compare(a.Client, b.Client), cmp.Compare(a.Handle, b.Handle))
	})
	return out
}
