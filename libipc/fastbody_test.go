package libipc_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
)

// fastPort encodes and parses itself (libipc.BodyAppender,
// libipc.BodyParser); parsed counts the bodies its parser took.
type fastPort struct {
	Port   uint16 `msgpack:"port"`
	parsed int
}

func (p *fastPort) AppendMsgpack(b []byte) []byte {
	return append(b, 0x81, 0xa4, 'p', 'o', 'r', 't', 0xcd, byte(p.Port>>8), byte(p.Port))
}

// ParseMsgpack takes only {"port": uint16} in its 3-byte form.
func (p *fastPort) ParseMsgpack(body []byte) bool {
	if len(body) != 9 || string(body[:7]) != "\x81\xa4port\xcd" {
		return false
	}
	p.Port = uint16(body[7])<<8 | uint16(body[8])
	p.parsed++
	return true
}

// TestBodyAppenderParser: a body that encodes itself is encoded by its own
// method, and one that parses itself is parsed by its own method when it
// takes the body; otherwise the general decoder answers, errors included.
func TestBodyAppenderParser(t *testing.T) {
	body, err := libipc.AppendBody([]byte{9}, &fastPort{Port: 0x1234})
	require.NoError(t, err)
	assert.Equal(t, []byte{9, 0x81, 0xa4, 'p', 'o', 'r', 't', 0xcd, 0x12, 0x34}, body)

	var p fastPort
	require.NoError(t, libipc.DecodeBody(body[1:], &p))
	assert.Equal(t, fastPort{Port: 0x1234, parsed: 1}, p)

	// The compact form is not the parser's: the general decoder takes it.
	p = fastPort{}
	require.NoError(t, libipc.DecodeBody([]byte{0x81, 0xa4, 'p', 'o', 'r', 't', 7}, &p))
	assert.Equal(t, fastPort{Port: 7}, p)

	// And still refuses what is malformed or unknown.
	require.Error(t, libipc.DecodeBody([]byte{0x81, 0xa4, 'p', 'o', 'r', 't'}, &p))
	require.Error(t, libipc.DecodeBody([]byte{0x81, 0xa4, 'p', 'o', 'r', 'x', 7}, &p))
}
