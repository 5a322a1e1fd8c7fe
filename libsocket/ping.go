package libsocket

import (
	"context"
	"net/netip"
	"time"

	"armos/libsocket/sockproto"
)

// PingResult is one answered echo request.
type PingResult struct {
	From netip.Addr    // who answered
	Seq  uint16        // its sequence number
	RTT  time.Duration // round-trip time by netd's clock
	Len  int           // data bytes in the reply
	TTL  uint8         // the reply's IPv4 TTL
}

// Ping asks netd to send one ICMP echo request with size data bytes and
// sequence number seq to dst, and waits at most timeout (0: a minute) for
// the reply: ETIMEDOUT when none came.
func (c *Client) Ping(ctx context.Context, dst netip.Addr, seq uint16, size int, timeout time.Duration) (PingResult, error) {
	if size < 0 || size > sockproto.MaxPingSize || timeout < 0 {
		return PingResult{}, opError("ping", netipZero, netip.AddrPortFrom(dst, 0), sockproto.EINVAL)
	}
	req := sockproto.PingReq{Dst: sockproto.AddrFrom(netip.AddrPortFrom(dst, 0)), Seq: seq, Size: uint32(size), Timeout: int64(timeout)}
	var resp sockproto.PingResp
	if err := c.call(ctx, sockproto.OpPing, &req, &resp); err != nil {
		return PingResult{}, opError("ping", netipZero, netip.AddrPortFrom(dst, 0), err)
	}
	return PingResult{From: resp.From.AddrPort().Addr(), Seq: resp.Seq, RTT: time.Duration(resp.RTT), Len: int(resp.Len), TTL: resp.TTL}, nil
}
