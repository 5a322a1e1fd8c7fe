package toy

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	for _, m := range []Message{
		{Op: OpTime, ID: 1},
		{Op: OpEcho, ID: 0xfffe, Payload: []byte("odd")},
		{Op: OpEcho | Reply, ID: 7, Payload: bytes.Repeat([]byte{0xff}, MaxPayload)},
	} {
		b, err := m.Append(nil)
		require.NoError(t, err)
		require.Len(t, b, HeaderLen+len(m.Payload))
		got, err := Parse(b)
		require.NoError(t, err)
		assert.Equal(t, m.Op, got.Op)
		assert.Equal(t, m.ID, got.ID)
		assert.Equal(t, string(m.Payload), string(got.Payload))
	}
	_, err := Message{Payload: make([]byte, MaxPayload+1)}.Append(nil)
	require.ErrorIs(t, err, ErrTooLong)
}

func TestParseRefuses(t *testing.T) {
	good, err := Message{Op: OpEcho, ID: 9, Payload: []byte("hello")}.Append(nil)
	require.NoError(t, err)
	bad := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	for name, c := range map[string]struct {
		b   []byte
		err error
	}{
		"short":     {good[:HeaderLen-1], ErrShort},
		"version":   {bad(0, 2), ErrVersion},
		"truncated": {good[:len(good)-1], ErrLength},
		"too long":  {bad(4, 0x10), ErrTooLong},
		"corrupt":   {bad(HeaderLen, 'j'), ErrChecksum},
	} {
		_, err := Parse(c.b)
		assert.ErrorIs(t, err, c.err, name)
	}
}

func TestServerAnswers(t *testing.T) {
	s := &Server{Now: func() time.Time { return time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC) }}
	ask := func(op Op, payload string) Message {
		req, err := Message{Op: op, ID: 42, Payload: []byte(payload)}.Append(nil)
		require.NoError(t, err)
		b := s.Answer(req)
		require.NotNil(t, b)
		m, err := Parse(b)
		require.NoError(t, err)
		require.Equal(t, uint16(42), m.ID)
		return m
	}
	assert.Equal(t, Message{Op: OpEcho | Reply, ID: 42, Payload: []byte("hi")}, ask(OpEcho, "hi"))
	assert.Equal(t, "2026-12-04T10:00:00Z", string(ask(OpTime, "").Payload))
	assert.Equal(t, OpError, ask(9, "").Op)
	answer, err := Message{Op: OpTime | Reply, ID: 1}.Append(nil)
	require.NoError(t, err)
	assert.Nil(t, s.Answer(answer), "answers are not answered")
	assert.Nil(t, s.Answer([]byte("junk")))
	assert.Equal(t, Stats{Echo: 1, Time: 1, Unknown: 1, Malformed: 1, Ignored: 1}, s.Stats())
}

// FuzzParse: Parse never panics, and what it accepts encodes back to the
// same bytes; the server answers anything without panicking.
func FuzzParse(f *testing.F) {
	for _, m := range []Message{{Op: OpTime, ID: 1}, {Op: OpEcho, ID: 2, Payload: []byte("hello")}} {
		b, _ := m.Append(nil)
		f.Add(b)
	}
	f.Add([]byte{1, 2, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Server
		s.Answer(b)
		h, herr := ParseHeader(b)
		m, err := Parse(b)
		if err != nil {
			return
		}
		require.NoError(t, herr)
		require.Equal(t, Message{Op: m.Op, ID: m.ID}, h)
		again, err := m.Append(nil)
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}
