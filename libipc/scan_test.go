package libipc_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/vmihailenco/msgpack/v5"

	"armos/libipc"
)

// FuzzCheckBody: the hand-written scanner and the msgpack library agree on
// where a value ends. Whatever CheckBody accepts, the library can skip
// exactly; whatever the library skips exactly (within the nesting bound),
// CheckBody accepts.
func FuzzCheckBody(f *testing.F) {
	for _, s := range fuzzSeeds() {
		if len(s) > 5 {
			f.Add(s[5:])
		}
	}
	f.Add([]byte{0xc7, 0x01, 0x05, 0xaa})                                     // ext8
	f.Add([]byte{0xd8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // fixext16
	f.Add([]byte{0xde, 0x00, 0x01, 0xa1, 'k', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0})  // map16 -> float64
	f.Fuzz(func(t *testing.T, body []byte) {
		err := libipc.CheckBody(body)
		r := bytes.NewReader(body)
		dec := msgpack.NewDecoder(r)
		skipErr := dec.Skip()
		libOK := skipErr == nil && r.Len() == 0
		if err == nil {
			assert.True(t, libOK, "scanner accepted what msgpack rejects (skip err %v, %d left)", skipErr, r.Len())
			return
		}
		var fe *libipc.FrameError
		assert.ErrorAs(t, err, &fe)
		if fe.Reason != libipc.ReasonTooLarge {
			assert.False(t, libOK, "scanner rejected (%v) what msgpack accepts", err)
		}
	})
}
