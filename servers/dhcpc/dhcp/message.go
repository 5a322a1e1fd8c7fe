package dhcp

import (
	"encoding/binary"
	"net/netip"
)

// Sizes (RFC 2131 section 2, figure 1).
const (
	HeaderLen = 236 // op .. file, before the magic cookie
	sNameOff  = 44
	sNameLen  = 64
	fileOff   = 108
	fileLen   = 128
	cookieLen = 4
	// MinMessageLen is the BOOTP minimum (RFC 1542 section 2.1):
	// Marshal pads shorter messages to it.
	MinMessageLen = 300
	// MaxMessageLen bounds what Parse accepts and Marshal builds: a DHCP
	// message in one 1500-byte IPv4 packet (1500 - 20 - 8). Clients
	// advertise it with the maximum message size option.
	MaxMessageLen = 1472
)

// Magic is the DHCP magic cookie, 99.130.83.99 (RFC 2131 section 3).
var Magic = [4]byte{99, 130, 83, 99}

// BOOTP ops.
const (
	BootRequest = 1
	BootReply   = 2
)

// HTypeEthernet is the hardware type of 10 Mb/s Ethernet (and every
// Ethernet), from RFC 1700's ARP hardware types.
const HTypeEthernet = 1

// FlagBroadcast asks servers to broadcast their replies (RFC 2131
// section 2, figure 2): the client cannot yet receive unicast IP.
const FlagBroadcast = 0x8000

// MessageType is the value of option 53 (RFC 2132 section 9.6).
type MessageType uint8

const (
	Discover MessageType = 1
	Offer    MessageType = 2
	Request  MessageType = 3
	Decline  MessageType = 4
	Ack      MessageType = 5
	Nak      MessageType = 6
	Release  MessageType = 7
	Inform   MessageType = 8
)

var typeNames = [...]string{"", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"}

func (t MessageType) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return "TYPE(" + itoa(int(t)) + ")"
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b [12]byte
	i := len(b)
	neg := v < 0
	if neg {
		v = -v
	}
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Message is a DHCP message. Addresses are IPv4 (the zero netip.Addr
// marshals as 0.0.0.0; Parse always sets them). SName and File are the raw
// fields; when the message overloads them with options, Parse moves those
// options into Options and leaves SName and File zero.
type Message struct {
	Op      uint8
	HType   uint8
	HLen    uint8
	Hops    uint8
	XID     uint32
	Secs    uint16
	Flags   uint16
	CIAddr  netip.Addr
	YIAddr  netip.Addr
	SIAddr  netip.Addr
	GIAddr  netip.Addr
	CHAddr  [16]byte
	SName   [sNameLen]byte
	File    [fileLen]byte
	Options Options
}

// HardwareAddr returns the client hardware address (its first HLen bytes).
func (m *Message) HardwareAddr() []byte {
	n := int(m.HLen)
	if n > len(m.CHAddr) {
		n = len(m.CHAddr)
	}
	return m.CHAddr[:n]
}

// Type returns the message type, or 0 if the message has none.
func (m *Message) Type() MessageType {
	if v, ok := m.Options.Get(OptMessageType); ok && len(v) == 1 {
		return MessageType(v[0])
	}
	return 0
}

// Parse parses a DHCP message. The Message's option data are copies: b
// may be reused.
func Parse(b []byte) (*Message, error) {
	if len(b) > MaxMessageLen {
		return nil, &ParseError{Area: "header", Option: -1, Offset: MaxMessageLen, Err: ErrTooLong}
	}
	if len(b) < HeaderLen+cookieLen {
		return nil, &ParseError{Area: "header", Option: -1, Offset: len(b), Err: ErrShort}
	}
	m := &Message{
		Op:     b[0],
		HType:  b[1],
		HLen:   b[2],
		Hops:   b[3],
		XID:    binary.BigEndian.Uint32(b[4:]),
		Secs:   binary.BigEndian.Uint16(b[8:]),
		Flags:  binary.BigEndian.Uint16(b[10:]),
		CIAddr: addr4(b[12:]),
		YIAddr: addr4(b[16:]),
		SIAddr: addr4(b[20:]),
		GIAddr: addr4(b[24:]),
	}
	if m.Op != BootRequest && m.Op != BootReply {
		return nil, &ParseError{Area: "header", Option: -1, Offset: 0, Err: ErrBadOp}
	}
	if m.HLen > 16 {
		return nil, &ParseError{Area: "header", Option: -1, Offset: 2, Err: ErrBadHLen}
	}
	copy(m.CHAddr[:], b[28:44])
	if [4]byte(b[HeaderLen:]) != Magic {
		return nil, &ParseError{Area: "header", Option: -1, Offset: HeaderLen, Err: ErrBadCookie}
	}

	var acc accumulator
	overload, err := acc.parseArea(b, HeaderLen+cookieLen, len(b), "options", true)
	if err != nil {
		return nil, err
	}
	// RFC 3396 section 7: options, then file, then sname.
	if overload&OverloadFile != 0 {
		if _, err := acc.parseArea(b, fileOff, fileOff+fileLen, "file", false); err != nil {
			return nil, err
		}
	} else {
		copy(m.File[:], b[fileOff:fileOff+fileLen])
	}
	if overload&OverloadSName != 0 {
		if _, err := acc.parseArea(b, sNameOff, sNameOff+sNameLen, "sname", false); err != nil {
			return nil, err
		}
	} else {
		copy(m.SName[:], b[sNameOff:sNameOff+sNameLen])
	}
	for _, o := range acc.opts {
		if err := validate(o); err != nil {
			return nil, &ParseError{Area: "options", Option: int(o.Code), Offset: -1, Err: err}
		}
	}
	m.Options = acc.opts
	return m, nil
}

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

// Overload values (RFC 2132 section 9.3).
const (
	OverloadFile  = 1
	OverloadSName = 2
)

// accumulator gathers option instances, concatenating those of one code.
type accumulator struct {
	opts Options
	seen [256]int // index+1 in opts
}

func (a *accumulator) add(code byte, data []byte) {
	if i := a.seen[code]; i > 0 {
		a.opts[i-1].Data = append(a.opts[i-1].Data, data...)
		return
	}
	a.opts = append(a.opts, Option{Code: code, Data: append([]byte(nil), data...)})
	a.seen[code] = len(a.opts)
}

// parseArea reads the options in b[start:end]. Only the options field
// (top) may carry the overload option, once; its value is returned.
func (a *accumulator) parseArea(b []byte, start, end int, area string, top bool) (byte, error) {
	var overload byte
	i := start
	for i < end {
		code := b[i]
		switch code {
		case OptPad:
			i++
			continue
		case OptEnd:
			return overload, nil
		}
		if i+1 >= end {
			return 0, &ParseError{Area: area, Option: int(code), Offset: i, Err: ErrTruncatedOption}
		}
		n := int(b[i+1])
		if i+2+n > end {
			return 0, &ParseError{Area: area, Option: int(code), Offset: i, Err: ErrTruncatedOption}
		}
		data := b[i+2 : i+2+n]
		if code == OptOverload {
			if !top || overload != 0 {
				return 0, &ParseError{Area: area, Option: int(code), Offset: i, Err: ErrOverloadLoop}
			}
			if n != 1 || data[0] < 1 || data[0] > 3 {
				return 0, &ParseError{Area: area, Option: int(code), Offset: i, Err: ErrBadOverload}
			}
			overload = data[0]
		} else {
			a.add(code, data)
		}
		i += 2 + n
	}
	return 0, &ParseError{Area: area, Option: -1, Offset: end, Err: ErrNoEnd}
}

// Marshal builds the message: the header, the cookie, Options in the
// options field (those over 255 bytes split, RFC 3396), End, padding to
// MinMessageLen. Op, HType and HLen are written as they are. It fails with
// ErrTooLong past MaxMessageLen and ErrOptionTooLong for Pad, End or
// Overload in Options.
func (m *Message) Marshal() ([]byte, error) {
	n := HeaderLen + cookieLen + 1
	for _, o := range m.Options {
		if o.Code == OptPad || o.Code == OptEnd || o.Code == OptOverload {
			return nil, &ParseError{Area: "options", Option: int(o.Code), Offset: -1, Err: ErrOptionTooLong}
		}
		chunks := (len(o.Data) + 254) / 255
		if chunks == 0 {
			chunks = 1
		}
		n += 2*chunks + len(o.Data)
	}
	if n > MaxMessageLen {
		return nil, &ParseError{Area: "options", Option: -1, Offset: n, Err: ErrTooLong}
	}
	b := make([]byte, max(n, MinMessageLen))
	b[0], b[1], b[2], b[3] = m.Op, m.HType, m.HLen, m.Hops
	binary.BigEndian.PutUint32(b[4:], m.XID)
	binary.BigEndian.PutUint16(b[8:], m.Secs)
	binary.BigEndian.PutUint16(b[10:], m.Flags)
	put4(b[12:], m.CIAddr)
	put4(b[16:], m.YIAddr)
	put4(b[20:], m.SIAddr)
	put4(b[24:], m.GIAddr)
	copy(b[28:44], m.CHAddr[:])
	copy(b[sNameOff:], m.SName[:])
	copy(b[fileOff:], m.File[:])
	copy(b[HeaderLen:], Magic[:])
	i := HeaderLen + cookieLen
	for _, o := range m.Options {
		d := o.Data
		for first := true; first || len(d) > 0; first = false {
			c := min(len(d), 255)
			b[i], b[i+1] = o.Code, byte(c)
			copy(b[i+2:], d[:c])
			i += 2 + c
			d = d[c:]
		}
	}
	b[i] = OptEnd
	return b, nil
}

func put4(b []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	}
}
