package streamproto

import (
	"armos/libipc"
	"armos/libipc/mpread"
	"armos/libipc/mpwrite"
)

// The hot messages encode and decode by hand (libipc.BodyAppender,
// libipc.BodyParser), byte for byte as the general encoder and decoder do
// (TestFastEncoding, FuzzParseCredit, FuzzParseDataCopy): a message each
// way per write and per credit.

// AppendMsgpack appends d's encoding: {"d": bin}.
func (d *Data) AppendMsgpack(b []byte) []byte {
	return mpwrite.Bin(append(b, 0x81, 0xa1, 'd'), d.Data)
}

// GatherMin is the data from which AppendMsgpackGather leaves it out of
// the encoding (below it, copying is cheaper than a piece).
const GatherMin = 2048

// AppendMsgpackGather is AppendMsgpack with the data left out as a piece
// (libipc.BodyGatherer) when it is GatherMin bytes or more: a Write's
// bytes go from the application's buffer into the message.
func (d *Data) AppendMsgpackGather(b []byte, pieces []libipc.Piece) ([]byte, []libipc.Piece) {
	if len(d.Data) < GatherMin {
		return d.AppendMsgpack(b), pieces
	}
	b = mpwrite.BinHeader(append(b, 0x81, 0xa1, 'd'), len(d.Data))
	return b, append(pieces, libipc.Piece{Off: len(b), Data: d.Data})
}

// ParseMsgpack decodes the encoding AppendMsgpack writes (the bytes
// copied, as the general decoder does); false for anything else.
func (d *Data) ParseMsgpack(body []byte) bool {
	if len(body) < 3 || body[0] != 0x81 || body[1] != 0xa1 || body[2] != 'd' {
		return false
	}
	p, rest, ok := mpread.Bin(body[3:])
	if !ok || len(rest) != 0 {
		return false
	}
	d.Data = mpread.CopyBin(d.Data, p)
	return true
}

// AppendMsgpack appends c's encoding: {"bytes": int, "msgs": int}.
func (c *Credit) AppendMsgpack(b []byte) []byte {
	b = mpwrite.Int(append(b, 0x82, 0xa5, 'b', 'y', 't', 'e', 's'), int64(c.Bytes))
	return mpwrite.Int(append(b, 0xa4, 'm', 's', 'g', 's'), int64(c.Msgs))
}

// ParseMsgpack decodes a Credit map of integers, each key at most once (a
// key left out leaves its field as it was, as the general decoder does);
// false for anything else.
func (c *Credit) ParseMsgpack(body []byte) bool {
	out := *c
	ok := mpread.FixMap(body, func(key, p []byte) ([]byte, uint32, bool) {
		var v int64
		var ok bool
		switch string(key) {
		case "bytes":
			v, p, ok = mpread.Int(p)
			out.Bytes = int(v)
			return p, 1, ok
		case "msgs":
			v, p, ok = mpread.Int(p)
			out.Msgs = int(v)
			return p, 2, ok
		}
		return nil, 0, false
	})
	if ok {
		*c = out
	}
	return ok
}

// DecodeData and DecodeCredit decode r's body into v: by hand for the
// usual encoding, without v escaping to the heap (an allocation per
// message), else the general way (which answers what is malformed). Both
// ends of a stream use them: tcpd's stream server and libsocket.
func DecodeData(r *libipc.Request, v *Data) bool {
	if v.ParseMsgpack(r.Body) {
		return true
	}
	g := &Data{Data: v.Data}
	if r.Decode(g) != nil {
		return false
	}
	*v = *g
	return true
}

func DecodeCredit(r *libipc.Request, v *Credit) bool {
	if v.ParseMsgpack(r.Body) {
		return true
	}
	g := new(Credit)
	*g = *v
	if r.Decode(g) != nil {
		return false
	}
	*v = *g
	return true
}
