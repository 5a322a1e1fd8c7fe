package libsocket

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"armos/libipc"
	sp "armos/libsocket/streamproto"
)

// FuzzStreamClient: whatever a stream server sends a TCPConn (any ops,
// kinds and bodies, caps or not), libsocket never panics, a read and a
// write end (with data, an error, or their deadline), and Close works.
// The input is a sequence of messages: a kind byte (odd: request, even:
// one-way), an op byte, a length byte and that many body bytes.
func FuzzStreamClient(f *testing.F) {
	seed := func(parts ...any) []byte {
		var out []byte
		for i := 0; i+2 < len(parts); i += 3 {
			body, _ := libipc.AppendBody(nil, parts[i+2])
			out = append(out, byte(parts[i].(int)), byte(parts[i+1].(sp.Op)), byte(len(body)))
			out = append(out, body...)
		}
		return out
	}
	f.Add(seed(0, sp.OpCredit, &sp.Credit{Bytes: 100, Msgs: 2}, 0, sp.OpData, &sp.Data{Data: []byte("hi")}, 0, sp.OpEOF, &sp.Empty{}))
	f.Add(seed(0, sp.OpError, &sp.ErrorMsg{Code: 104}))
	f.Add(seed(0, sp.OpAccepted, &sp.Accepted{}, 1, sp.OpData, &sp.Data{}))
	f.Add(seed(0, sp.OpData, &sp.Data{Data: make([]byte, 200)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, theirs := libipc.NewPair(64)
		defer theirs.Close()
		c := &TCPConn{x: newStream(mine)}
		id := uint32(1)
		for len(data) >= 3 {
			kind, op, n := data[0], data[1], min(int(data[2]), len(data)-3)
			body := data[3 : 3+n]
			data = data[3+n:]
			h := libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: libipc.Op(op % 16)}
			if kind%2 == 1 {
				h.Kind, h.ID = libipc.KindRequest, id
				id++
			}
			msg, err := libipc.AppendMessage(nil, h, nil)
			if err != nil {
				continue
			}
			m := libipc.Message{Data: append(msg[:len(msg)-1], body...)}
			if kind%4 == 2 { // with a cap (an endpoint), as OpAccepted carries
				a, b := libipc.NewPair(1)
				defer b.Close()
				m.Caps = []libipc.Cap{a}
			}
			if theirs.TrySend(m) != nil {
				break
			}
		}
		buf := make([]byte, 64)
		c.SetDeadline(time.Now().Add(20 * time.Millisecond))
		c.Read(buf)
		c.Write([]byte("some bytes"))
		assert.NoError(t, c.Close())
		_, err := c.Read(buf)
		assert.Error(t, err, "reads fail after Close")
	})
}
