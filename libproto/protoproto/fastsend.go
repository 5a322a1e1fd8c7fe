package protoproto

import (
	"armos/libipc"
	"armos/libipc/mpread"
	"armos/libipc/mpwrite"
	"armos/libsocket/sockproto"
)

// readUint8 reads an integer that fits a uint8.
func readUint8(p []byte) (uint8, []byte, bool) {
	v, rest, ok := mpread.Uint(p)
	return uint8(v), rest, ok && v <= 255
}

// ParseSendReq decodes a SendReq body as msgpack-go writes it (a map of
// the struct's fields, omitempty ones left out) without copying: req.Data
// aliases body. It reports false for anything else, and the caller then
// decodes the body the general way (which copies, and answers what is
// malformed); so a true result is what the general decoder would have
// produced. netd's send path uses it: a 64 KB offloaded segment's next
// copy is into the frame.
func ParseSendReq(body []byte, req *SendReq) bool {
	_, ok := ParseSendReqAt(body, req)
	return ok
}

// ParseSendReqAt is ParseSendReq, also returning where req.Data begins in
// body (netd builds the frame around it there).
func ParseSendReqAt(body []byte, req *SendReq) (dataOff int, ok bool) {
	var out SendReq
	ok = mpread.FixMap(body, func(key, p []byte) ([]byte, uint32, bool) {
		var ok bool
		switch string(key) { // compared in place: no allocation
		case "proto":
			out.Proto, p, ok = readUint8(p)
			return p, 1, ok
		case "src":
			out.Src, p, ok = sockproto.ReadAddr(p)
			return p, 2, ok
		case "dst":
			out.Dst, p, ok = sockproto.ReadAddr(p)
			return p, 4, ok
		case "ttl":
			out.TTL, p, ok = readUint8(p)
			return p, 8, ok
		case "tos":
			out.TOS, p, ok = readUint8(p)
			return p, 16, ok
		case "df":
			out.DF, p, ok = mpread.Bool(p)
			return p, 32, ok
		case "data":
			out.Data, p, ok = mpread.Bin(p)
			dataOff = len(body) - len(p) - len(out.Data)
			return p, 64, ok
		case "room":
			out.Room, p, ok = mpread.Bin(p)
			return p, 256, ok
		case "tso":
			var v uint64
			v, p, ok = mpread.Uint(p)
			out.TSO = uint16(v)
			return p, 128, ok && v <= 1<<16-1
		}
		return nil, 0, false
	})
	if ok {
		*req = out
	}
	return dataOff, ok
}

// AppendMsgpack appends r's encoding, byte for byte what the general
// encoder writes (libipc.BodyAppender; TestSendReqAppend) for r with Data
// and DataMore joined: tcpd sends a SendReq per segment.
func (r *SendReq) AppendMsgpack(b []byte) []byte {
	b, _ = r.appendMsgpack(b, nil, false)
	return b
}

// GatherMin is the payload from which AppendMsgpackGather leaves Data
// and DataMore out of the encoding (below it, copying is cheaper than a
// piece the kernel copies on its own).
const GatherMin = 2048

// AppendMsgpackGather is AppendMsgpack with Data and DataMore left out
// as pieces (libipc.BodyGatherer) when they are GatherMin bytes or more:
// a segment's payload goes from tcpd's send buffer into the message
// without first being copied into the encoding.
func (r *SendReq) AppendMsgpackGather(b []byte, pieces []libipc.Piece) ([]byte, []libipc.Piece) {
	return r.appendMsgpack(b, pieces, r.dataLen() >= GatherMin)
}

// appendMsgpack writes r's encoding, its payload left out as pieces if
// gather.
func (r *SendReq) appendMsgpack(b []byte, pieces []libipc.Piece, gather bool) ([]byte, []libipc.Piece) {
	n := 4
	if r.TTL != 0 {
		n++
	}
	if r.TOS != 0 {
		n++
	}
	if r.DF {
		n++
	}
	if r.TSO != 0 {
		n++
	}
	if len(r.Room) != 0 {
		n++
	}
	b = mpwrite.Uint(append(b, 0x80|byte(n), 0xa5, 'p', 'r', 'o', 't', 'o'), uint64(r.Proto))
	b = sockproto.AppendAddr(append(b, 0xa3, 's', 'r', 'c'), r.Src)
	b = sockproto.AppendAddr(append(b, 0xa3, 'd', 's', 't'), r.Dst)
	if r.TTL != 0 {
		b = mpwrite.Uint(append(b, 0xa3, 't', 't', 'l'), uint64(r.TTL))
	}
	if r.TOS != 0 {
		b = mpwrite.Uint(append(b, 0xa3, 't', 'o', 's'), uint64(r.TOS))
	}
	if r.DF {
		b = append(b, 0xa2, 'd', 'f', 0xc3)
	}
	if len(r.Room) != 0 {
		b = mpwrite.Bin(append(b, 0xa4, 'r', 'o', 'o', 'm'), r.Room)
	}
	switch {
	case gather:
		b = mpwrite.BinHeader(append(b, 0xa4, 'd', 'a', 't', 'a'), r.dataLen())
		if len(r.Data) > 0 {
			pieces = append(pieces, libipc.Piece{Off: len(b), Data: r.Data})
		}
		for _, p := range r.DataMore {
			if len(p) > 0 {
				pieces = append(pieces, libipc.Piece{Off: len(b), Data: p})
			}
		}
	case len(r.DataMore) == 0:
		b = mpwrite.Bin(append(b, 0xa4, 'd', 'a', 't', 'a'), r.Data)
	default:
		b = append(mpwrite.BinHeader(append(b, 0xa4, 'd', 'a', 't', 'a'), r.dataLen()), r.Data...)
		for _, p := range r.DataMore {
			b = append(b, p...)
		}
	}
	if r.TSO != 0 {
		b = mpwrite.Uint(append(b, 0xa3, 't', 's', 'o'), uint64(r.TSO))
	}
	return b, pieces
}

// readUint32 reads an integer that fits a uint32.
func readUint32(p []byte) (uint32, []byte, bool) {
	v, rest, ok := mpread.Uint(p)
	return uint32(v), rest, ok && v <= 1<<32-1
}

// ParseMsgpack decodes a Datagram as msgpack-go writes it, each field at
// most once (a field left out keeps its value, as with the general
// decoder), Hdr and Data copied (libipc.BodyParser; FuzzParseDatagram):
// libproto decodes one per datagram received. False for anything else.
func (d *Datagram) ParseMsgpack(body []byte) bool {
	if d.parseOrdered(body) {
		return true
	}
	out := *d
	var hdr, data []byte
	var have uint8 // 1: hdr, 2: data
	ok := mpread.FixMap(body, func(key, p []byte) ([]byte, uint32, bool) {
		var ok bool
		switch string(key) {
		case "proto":
			out.Proto, p, ok = readUint8(p)
			return p, 1, ok
		case "src":
			out.Src, p, ok = sockproto.ReadAddr(p)
			return p, 2, ok
		case "dst":
			out.Dst, p, ok = sockproto.ReadAddr(p)
			return p, 4, ok
		case "ttl":
			out.TTL, p, ok = readUint8(p)
			return p, 8, ok
		case "tos":
			out.TOS, p, ok = readUint8(p)
			return p, 16, ok
		case "bcast":
			out.Bcast, p, ok = mpread.Bool(p)
			return p, 32, ok
		case "dev":
			out.Dev, p, ok = readUint32(p)
			return p, 64, ok
		case "mtu":
			out.MTU, p, ok = readUint32(p)
			return p, 128, ok
		case "hdr":
			hdr, p, ok = mpread.Bin(p)
			have |= 1
			return p, 256, ok
		case "data":
			data, p, ok = mpread.Bin(p)
			have |= 2
			return p, 512, ok
		}
		return nil, 0, false
	})
	if !ok {
		return false
	}
	if have&1 != 0 {
		out.Hdr = mpread.CopyBin(out.Hdr, hdr)
	}
	if have&2 != 0 {
		out.Data = mpread.CopyBin(out.Data, data)
	}
	*d = out
	return true
}

// key reads the map key k (its fixstr header included) at the front of p.
func key(p []byte, k string) ([]byte, bool) {
	if len(p) < len(k) || string(p[:len(k)]) != k {
		return nil, false
	}
	return p[len(k):], true
}

// parseOrdered is ParseMsgpack for the encoding netd sends: the fields in
// their order, tos and bcast left out when zero, into a Datagram that holds
// no bytes (libproto's: a fresh one); its keys are compared as constants,
// not looked up.
// False for anything else (ParseMsgpack then looks the keys up).
func (d *Datagram) parseOrdered(body []byte) bool { return d.parseOrderedAt(body, false) }

// ParseMsgpackInPlace is ParseMsgpack for the encoding netd writes (the
// fields in order), with Hdr and Data left in body instead of copied:
// they are valid while body is. False for any other encoding (the caller
// then parses the usual way).
func (d *Datagram) ParseMsgpackInPlace(body []byte) bool { return d.parseOrderedAt(body, true) }

// parseOrderedAt is parseOrdered; inPlace leaves Hdr and Data in body.
func (d *Datagram) parseOrderedAt(body []byte, inPlace bool) bool {
	if len(body) < 1 || body[0] < 0x88 || body[0] > 0x8a || d.Hdr != nil || d.Data != nil {
		return false
	}
	optional := int(body[0]&0x0f - 8)
	out := *d // tos and bcast, when left out, keep their values
	var hdr, data []byte
	p, ok := key(body[1:], "\xa5proto")
	if !ok {
		return false
	}
	if out.Proto, p, ok = readUint8(p); !ok {
		return false
	}
	if p, ok = key(p, "\xa3src"); !ok {
		return false
	}
	if out.Src, p, ok = sockproto.ReadAddr(p); !ok {
		return false
	}
	if p, ok = key(p, "\xa3dst"); !ok {
		return false
	}
	if out.Dst, p, ok = sockproto.ReadAddr(p); !ok {
		return false
	}
	if p, ok = key(p, "\xa3ttl"); !ok {
		return false
	}
	if out.TTL, p, ok = readUint8(p); !ok {
		return false
	}
	if rest, ok := key(p, "\xa3tos"); ok && optional > 0 {
		if out.TOS, p, ok = readUint8(rest); !ok {
			return false
		}
		optional--
	}
	if rest, ok := key(p, "\xa5bcast"); ok && optional > 0 {
		if out.Bcast, p, ok = mpread.Bool(rest); !ok {
			return false
		}
		optional--
	}
	if optional != 0 {
		return false
	}
	if p, ok = key(p, "\xa3dev"); !ok {
		return false
	}
	if out.Dev, p, ok = readUint32(p); !ok {
		return false
	}
	if p, ok = key(p, "\xa3mtu"); !ok {
		return false
	}
	if out.MTU, p, ok = readUint32(p); !ok {
		return false
	}
	if p, ok = key(p, "\xa3hdr"); !ok {
		return false
	}
	if hdr, p, ok = mpread.Bin(p); !ok {
		return false
	}
	if p, ok = key(p, "\xa4data"); !ok {
		return false
	}
	if data, p, ok = mpread.Bin(p); !ok || len(p) != 0 {
		return false
	}
	switch {
	case inPlace:
		out.Hdr, out.Data = hdr, data
	case hdr != nil && data != nil:
		// One allocation holds both (Hdr's capacity ends where Data
		// begins).
		buf := make([]byte, len(hdr)+len(data))
		copy(buf, hdr)
		copy(buf[len(hdr):], data)
		out.Hdr, out.Data = buf[:len(hdr):len(hdr)], buf[len(hdr):]
	default:
		out.Hdr, out.Data = mpread.CopyBin(nil, hdr), mpread.CopyBin(nil, data)
	}
	*d = out
	return true
}

// AppendMsgpack appends d's encoding, byte for byte what the general
// encoder writes (libipc.BodyAppender; TestDatagramAppend,
// FuzzDatagramAppend): netd delivers a Datagram per segment received.
func (d *Datagram) AppendMsgpack(b []byte) []byte {
	n := 8
	if d.TOS != 0 {
		n++
	}
	if d.Bcast {
		n++
	}
	b = mpwrite.Uint(append(b, 0x80|byte(n), 0xa5, 'p', 'r', 'o', 't', 'o'), uint64(d.Proto))
	b = sockproto.AppendAddr(append(b, 0xa3, 's', 'r', 'c'), d.Src)
	b = sockproto.AppendAddr(append(b, 0xa3, 'd', 's', 't'), d.Dst)
	b = mpwrite.Uint(append(b, 0xa3, 't', 't', 'l'), uint64(d.TTL))
	if d.TOS != 0 {
		b = mpwrite.Uint(append(b, 0xa3, 't', 'o', 's'), uint64(d.TOS))
	}
	if d.Bcast {
		b = append(b, 0xa5, 'b', 'c', 'a', 's', 't', 0xc3)
	}
	b = mpwrite.Uint(append(b, 0xa3, 'd', 'e', 'v'), uint64(d.Dev))
	b = mpwrite.Uint(append(b, 0xa3, 'm', 't', 'u'), uint64(d.MTU))
	b = mpwrite.Bin(append(b, 0xa3, 'h', 'd', 'r'), d.Hdr)
	return mpwrite.Bin(append(b, 0xa4, 'd', 'a', 't', 'a'), d.Data)
}
