package dhcp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	ip  = netip.MustParseAddr
	any = netip.IPv4Unspecified()
)

// offer is an OFFER like dnsmasq's.
func offer() *Message {
	m := &Message{Op: BootReply, HType: HTypeEthernet, HLen: 6, XID: 0x12345678, Flags: FlagBroadcast,
		CIAddr: any, YIAddr: ip("10.99.0.50"), SIAddr: ip("10.99.0.1"), GIAddr: any}
	copy(m.CHAddr[:], []byte{2, 0, 0, 0, 0, 1})
	m.Options.Set(OptMessageType, []byte{byte(Offer)})
	m.Options.Set(OptServerID, AddrData(ip("10.99.0.1")))
	m.Options.Set(OptLeaseTime, DurationData(120*time.Second))
	m.Options.Set(OptRenewalTime, DurationData(60*time.Second))
	m.Options.Set(OptSubnetMask, MaskData(24))
	m.Options.Set(OptRouter, AddrData(ip("10.99.0.1")))
	m.Options.Set(OptDNS, AddrData(ip("10.99.0.1"), ip("10.99.0.2")))
	m.Options.Set(OptMTU, Uint16Data(1400))
	return m
}

func TestRoundTrip(t *testing.T) {
	m := offer()
	b, err := m.Marshal()
	require.NoError(t, err)
	assert.Len(t, b, MinMessageLen, "padded to the BOOTP minimum")
	assert.Equal(t, Magic[:], b[HeaderLen:HeaderLen+4])
	got, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, m, got)
	assert.Equal(t, Offer, got.Type())
	assert.Equal(t, []byte{2, 0, 0, 0, 0, 1}, got.HardwareAddr())
	n, ok := got.Options.PrefixLen()
	assert.True(t, ok)
	assert.Equal(t, 24, n)
	d, _ := got.Options.Duration(OptLeaseTime)
	assert.Equal(t, 120*time.Second, d)
	assert.Equal(t, []netip.Addr{ip("10.99.0.1"), ip("10.99.0.2")}, got.Options.Addrs(OptDNS))
	mtu, _ := got.Options.Uint16(OptMTU)
	assert.Equal(t, uint16(1400), mtu)
	a, ok := got.Options.Addr(OptServerID)
	assert.True(t, ok)
	assert.Equal(t, ip("10.99.0.1"), a)
	assert.Equal(t, "OFFER", got.Type().String())
	assert.Equal(t, "TYPE(9)", MessageType(9).String())
}

// raw builds a message from an options field, file and sname areas.
func raw(opts, file, sname []byte) []byte {
	b := make([]byte, HeaderLen+4, HeaderLen+4+len(opts))
	b[0], b[1], b[2] = BootReply, 1, 6
	copy(b[fileOff:], file)
	copy(b[sNameOff:], sname)
	copy(b[HeaderLen:], Magic[:])
	return append(b, opts...)
}

func TestOverloadAndConcatenation(t *testing.T) {
	// RFC 3396: instances of one option concatenate in the order options,
	// file, sname; RFC 2131 section 4.1: overload 3 uses both.
	opts := []byte{OptMessageType, 1, byte(Ack), OptOverload, 1, 3, 100, 2, 'a', 'b', OptPad, OptEnd}
	file := []byte{100, 1, 'c', OptDNS, 4, 1, 2, 3, 4, OptEnd}
	sname := []byte{100, 2, 'd', 'e', OptEnd}
	m, err := Parse(raw(opts, file, sname))
	require.NoError(t, err)
	v, _ := m.Options.Get(100)
	assert.Equal(t, "abcde", string(v))
	assert.Equal(t, []netip.Addr{ip("1.2.3.4")}, m.Options.Addrs(OptDNS))
	assert.Equal(t, [fileLen]byte{}, m.File, "an overloaded field holds no file name")
	assert.Equal(t, [sNameLen]byte{}, m.SName)

	// Without overload, file and sname are names, kept as they are.
	m, err = Parse(raw([]byte{OptEnd}, []byte("boot.img"), []byte("srv")))
	require.NoError(t, err)
	assert.Equal(t, "boot.img", string(bytes.TrimRight(m.File[:], "\x00")))
	assert.Equal(t, "srv", string(bytes.TrimRight(m.SName[:], "\x00")))

	// Marshal splits options over 255 bytes.
	long := bytes.Repeat([]byte{7}, 600)
	m.Options = Options{{Code: 100, Data: long}, {Code: 101}}
	b, err := m.Marshal()
	require.NoError(t, err)
	assert.Equal(t, []byte{100, 255}, b[240:242])
	assert.Equal(t, []byte{100, 255}, b[240+257:240+259])
	assert.Equal(t, []byte{100, 90}, b[240+514:240+516])
	got, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, m.Options, got.Options)
}

func TestParseRejects(t *testing.T) {
	good := raw([]byte{OptEnd}, nil, nil)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:HeaderLen+3], ErrShort},
		{"too long", append(raw([]byte{OptEnd}, nil, nil), make([]byte, MaxMessageLen)...), ErrTooLong},
		{"bad op", func() []byte { b := raw([]byte{OptEnd}, nil, nil); b[0] = 3; return b }(), ErrBadOp},
		{"bad hlen", func() []byte { b := raw([]byte{OptEnd}, nil, nil); b[2] = 17; return b }(), ErrBadHLen},
		{"bootp", func() []byte { b := raw([]byte{OptEnd}, nil, nil); b[HeaderLen] = 0; return b }(), ErrBadCookie},
		{"no end", raw([]byte{OptPad, OptPad}, nil, nil), ErrNoEnd},
		{"no options", raw(nil, nil, nil), ErrNoEnd},
		{"length byte missing", raw([]byte{OptDNS}, nil, nil), ErrTruncatedOption},
		{"data past the end", raw([]byte{OptDNS, 8, 1, 2, 3, 4}, nil, nil), ErrTruncatedOption},
		{"truncated in file", raw([]byte{OptOverload, 1, 1, OptEnd}, append(make([]byte, 126), OptRouter, 4), nil), ErrTruncatedOption},
		{"file without end", raw([]byte{OptOverload, 1, 1, OptEnd}, nil, nil), ErrNoEnd},
		{"overload in file", raw([]byte{OptOverload, 1, 1, OptEnd}, []byte{OptOverload, 1, 1, OptEnd}, nil), ErrOverloadLoop},
		{"overload in sname", raw([]byte{OptOverload, 1, 3, OptEnd}, []byte{OptEnd}, []byte{OptOverload, 1, 2, OptEnd}), ErrOverloadLoop},
		{"overload twice", raw([]byte{OptOverload, 1, 1, OptOverload, 1, 2, OptEnd}, []byte{OptEnd}, nil), ErrOverloadLoop},
		{"overload value", raw([]byte{OptOverload, 1, 4, OptEnd}, nil, nil), ErrBadOverload},
		{"overload length", raw([]byte{OptOverload, 2, 1, 1, OptEnd}, nil, nil), ErrBadOverload},
		{"message type 0", raw([]byte{OptMessageType, 1, 0, OptEnd}, nil, nil), ErrBadOption},
		{"message type 9", raw([]byte{OptMessageType, 1, 9, OptEnd}, nil, nil), ErrBadOption},
		{"message type long", raw([]byte{OptMessageType, 2, 1, 1, OptEnd}, nil, nil), ErrBadOption},
		// Two instances of a one-byte option concatenate to two bytes.
		{"message type twice", raw([]byte{OptMessageType, 1, 1, OptMessageType, 1, 1, OptEnd}, nil, nil), ErrBadOption},
		{"mask not contiguous", raw([]byte{OptSubnetMask, 4, 255, 0, 255, 0, OptEnd}, nil, nil), ErrBadOption},
		{"mask short", raw([]byte{OptSubnetMask, 3, 255, 255, 255, OptEnd}, nil, nil), ErrBadOption},
		{"router 5 bytes", raw([]byte{OptRouter, 5, 1, 2, 3, 4, 5, OptEnd}, nil, nil), ErrBadOption},
		{"dns empty", raw([]byte{OptDNS, 0, OptEnd}, nil, nil), ErrBadOption},
		{"mtu 67", raw([]byte{OptMTU, 2, 0, 67, OptEnd}, nil, nil), ErrBadOption},
		{"max size 575", raw([]byte{OptMaxMessageSize, 2, 2, 63, OptEnd}, nil, nil), ErrBadOption},
		{"lease 3 bytes", raw([]byte{OptLeaseTime, 3, 0, 0, 1, OptEnd}, nil, nil), ErrBadOption},
		{"server id 8 bytes", raw([]byte{OptServerID, 8, 1, 2, 3, 4, 5, 6, 7, 8, OptEnd}, nil, nil), ErrBadOption},
		{"client id 1 byte", raw([]byte{OptClientID, 1, 1, OptEnd}, nil, nil), ErrBadOption},
		{"empty parameter list", raw([]byte{OptParamRequest, 0, OptEnd}, nil, nil), ErrBadOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.b)
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.want), "%v", err)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.NotEmpty(t, pe.Error())
		})
	}
	_, err := Parse(good)
	assert.NoError(t, err)
	// Bytes after End are padding, whatever they are.
	_, err = Parse(raw([]byte{OptEnd, 1, 2, 3}, nil, nil))
	assert.NoError(t, err)
	// A zero mask is contiguous; unknown options may be empty.
	_, err = Parse(raw([]byte{OptSubnetMask, 4, 0, 0, 0, 0, 200, 0, OptEnd}, nil, nil))
	assert.NoError(t, err)
}

func TestMarshalRejects(t *testing.T) {
	m := offer()
	m.Options = append(m.Options, Option{Code: OptOverload, Data: []byte{1}})
	_, err := m.Marshal()
	assert.ErrorIs(t, err, ErrOptionTooLong)
	m = offer()
	m.Options.Set(100, make([]byte, MaxMessageLen))
	_, err = m.Marshal()
	assert.ErrorIs(t, err, ErrTooLong)
}

func TestDurationData(t *testing.T) {
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xff}, DurationData(Infinite))
	assert.Equal(t, []byte{0, 0, 0, 90}, DurationData(90*time.Second))
	assert.Equal(t, []byte{0, 0, 0, 0}, MaskData(0))
	assert.Equal(t, []byte{255, 255, 255, 255}, MaskData(32))
	assert.Equal(t, []byte{255, 255, 240, 0}, MaskData(20))
}

// FuzzParseMessage: Parse never panics, and what it accepts marshals into
// a message that parses to the same thing.
func FuzzParseMessage(f *testing.F) {
	b, _ := offer().Marshal()
	f.Add(b)
	f.Add(raw([]byte{OptMessageType, 1, byte(Ack), OptOverload, 1, 3, 100, 2, 'a', 'b', OptEnd},
		[]byte{100, 1, 'c', OptEnd}, []byte{100, 2, 'd', 'e', OptEnd}))
	f.Add(raw([]byte{OptOverload, 1, 1, OptEnd}, []byte{OptOverload, 1, 1, OptEnd}, nil))
	f.Add(raw([]byte{OptDNS, 8, 1, 2, 3, 4}, nil, nil))
	for _, g := range goldenPackets(f) {
		f.Add(g)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("not a ParseError: %v", err)
			}
			return
		}
		out, err := m.Marshal()
		if errors.Is(err, ErrTooLong) {
			return // options moved out of file and sname may not fit
		}
		if err != nil {
			t.Fatalf("marshal of a parsed message: %v", err)
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("parse of a marshalled message: %v", err)
		}
		assert.Equal(t, m, m2)
	})
}
