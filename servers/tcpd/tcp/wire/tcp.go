package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	ipwire "armos/servers/netd/wire"
)

// Header sizes (RFC 9293 section 3.1).
const (
	// HeaderLen is the size of a TCP header without options.
	HeaderLen = 20
	// MaxHeaderLen is the largest header: a data offset of 15 words.
	MaxHeaderLen = 60
	// MaxSegmentLen is the largest segment an IPv4 datagram can carry:
	// 65535 less a 20-byte IPv4 header.
	MaxSegmentLen = 65535 - 20
)

// Flags are the control bits of byte 13 of the header.
type Flags uint8

// The control bits (RFC 9293 section 3.1; ECE and CWR from RFC 3168).
const (
	FlagFIN Flags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

var flagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// Has reports whether every bit of m is set in f.
func (f Flags) Has(m Flags) bool { return f&m == m }

// String lists the set bits, "SYN|ACK", or "none".
func (f Flags) String() string {
	if f == 0 {
		return "none"
	}
	var sb strings.Builder
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			if sb.Len() > 0 {
				sb.WriteByte('|')
			}
			sb.WriteString(n)
		}
	}
	return sb.String()
}

// Segment is a checked view of a TCP segment: header, options and payload.
// Make one with Parse.
type Segment []byte

// Parse checks a TCP segment (the whole IPv4 payload) and returns a view of
// it. Fewer than 20 bytes, or fewer than the data offset claims, is
// ErrTruncated; a data offset below 5 is ErrBadHeaderLength; an option whose
// length cannot be walked is ErrBadOption. The checksum needs the IPv4
// addresses: check it with VerifyChecksum.
func Parse(b []byte) (Segment, error) {
	if len(b) < HeaderLen {
		return nil, ErrTruncated
	}
	hl := int(b[12]>>4) * 4
	if hl < HeaderLen {
		return nil, ErrBadHeaderLength
	}
	if hl > len(b) {
		return nil, ErrTruncated
	}
	if err := walkOptions(b[HeaderLen:hl], nil); err != nil {
		return nil, err
	}
	return Segment(b), nil
}

// SrcPort returns the source port.
func (s Segment) SrcPort() uint16 { return binary.BigEndian.Uint16(s[0:2]) }

// DstPort returns the destination port.
func (s Segment) DstPort() uint16 { return binary.BigEndian.Uint16(s[2:4]) }

// Seq returns the sequence number.
func (s Segment) Seq() uint32 { return binary.BigEndian.Uint32(s[4:8]) }

// Ack returns the acknowledgment number (meaningful when FlagACK is set).
func (s Segment) Ack() uint32 { return binary.BigEndian.Uint32(s[8:12]) }

// HeaderLen returns the data offset in bytes (20 to 60).
func (s Segment) HeaderLen() int { return int(s[12]>>4) * 4 }

// Flags returns the control bits.
func (s Segment) Flags() Flags { return Flags(s[13]) }

// Window returns the window field, before any scaling.
func (s Segment) Window() uint16 { return binary.BigEndian.Uint16(s[14:16]) }

// Checksum returns the checksum field.
func (s Segment) Checksum() uint16 { return binary.BigEndian.Uint16(s[16:18]) }

// Urgent returns the urgent pointer (meaningful when FlagURG is set).
func (s Segment) Urgent() uint16 { return binary.BigEndian.Uint16(s[18:20]) }

// OptionBytes returns the raw options (nil without any).
func (s Segment) OptionBytes() []byte {
	if s.HeaderLen() == HeaderLen {
		return nil
	}
	return s[HeaderLen:s.HeaderLen()]
}

// Options returns the options tcpd knows (see Options); others are skipped.
func (s Segment) Options() Options {
	var o Options
	_ = walkOptions(s.OptionBytes(), &o) // Parse walked them already
	return o
}

// Timestamps returns the values of the timestamps option, and false when
// the segment carries none. Linux's layout (NOP, NOP, timestamps first) is
// read without walking the options.
func (s Segment) Timestamps() (val, ecr uint32, ok bool) {
	hl := s.HeaderLen()
	if hl == HeaderLen {
		return 0, 0, false
	}
	o := s[HeaderLen:hl]
	if len(o) >= 12 && o[0] == OptNOP && o[1] == OptNOP && o[2] == OptTimestamps && o[3] == lenTimestamps {
		return binary.BigEndian.Uint32(o[4:]), binary.BigEndian.Uint32(o[8:]), true
	}
	var opts Options
	if walkOptions(o, &opts) != nil || !opts.HasTimestamps {
		return 0, 0, false
	}
	return opts.TSVal, opts.TSEcr, true
}

// Payload returns the bytes after the header.
func (s Segment) Payload() []byte { return s[s.HeaderLen():] }

// SeqLen returns the sequence space the segment occupies: its payload
// length plus one for SYN and one for FIN (RFC 9293 SEG.LEN).
func (s Segment) SeqLen() int {
	n := len(s) - s.HeaderLen()
	if s.Flags()&FlagSYN != 0 {
		n++
	}
	if s.Flags()&FlagFIN != 0 {
		n++
	}
	return n
}

// VerifyChecksum checks the checksum over the IPv4 pseudo-header (src, dst,
// protocol 6, length) and the segment; a mismatch is ErrBadChecksum. Unlike
// UDP's, a TCP checksum is never optional.
func (s Segment) VerifyChecksum(src, dst netip.Addr) error {
	if ipwire.Checksum(s, pseudo(src, dst, len(s))) != 0xffff {
		return ErrBadChecksum
	}
	return nil
}

// pseudo returns the partial sum of the IPv4 pseudo-header of a TCP segment
// of n bytes.
func pseudo(src, dst netip.Addr, n int) uint16 {
	return ipwire.PseudoHeaderChecksum(ipwire.IPProtocolTCP, src, dst, uint16(n))
}

// Repr returns the header's fields and known options.
func (s Segment) Repr() Repr {
	return Repr{
		SrcPort: s.SrcPort(), DstPort: s.DstPort(),
		Seq: s.Seq(), Ack: s.Ack(),
		Flags:  s.Flags(),
		Window: s.Window(), Urgent: s.Urgent(),
		Options: s.Options(),
	}
}

// Repr holds the fields of a TCP header a sender chooses; the data offset
// follows from the options and the checksum from the segment.
type Repr struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            Flags
	Window           uint16
	Urgent           uint16
	Options          Options
}

// HeaderLen returns the header's length with its options.
func (r Repr) HeaderLen() int { return HeaderLen + r.Options.Len() }

// Emit writes the header into b[:r.HeaderLen()], where b is the whole
// segment (header space followed by the payload already in place), and the
// checksum over the IPv4 pseudo-header and b. Errors: ErrOptionsTooLong
// (more than 40 bytes of options), ErrShortBuffer (b shorter than the
// header), ErrBadLength (b longer than MaxSegmentLen),
// ErrBadAddress (src or dst not IPv4).
func (r Repr) Emit(b []byte, src, dst netip.Addr) error {
	if err := r.EmitNoChecksum(b, src, dst); err != nil {
		return err
	}
	binary.BigEndian.PutUint16(b[16:18], ^ipwire.Checksum(b, pseudo(src, dst, len(b))))
	return nil
}

// EmitNoChecksum is Emit leaving the checksum field zero: for a segment
// whose checksum the IP layer or the NIC computes (segmentation offload).
func (r Repr) EmitNoChecksum(b []byte, src, dst netip.Addr) error {
	hl := r.HeaderLen()
	if hl > MaxHeaderLen {
		return ErrOptionsTooLong
	}
	if len(b) < hl {
		return ErrShortBuffer
	}
	if len(b) > MaxSegmentLen {
		return ErrBadLength
	}
	if !src.Is4() || !dst.Is4() {
		return ErrBadAddress
	}
	binary.BigEndian.PutUint16(b[0:2], r.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], r.DstPort)
	binary.BigEndian.PutUint32(b[4:8], r.Seq)
	binary.BigEndian.PutUint32(b[8:12], r.Ack)
	b[12] = byte(hl/4) << 4
	b[13] = byte(r.Flags)
	binary.BigEndian.PutUint16(b[14:16], r.Window)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[18:20], r.Urgent)
	r.Options.emit(b[HeaderLen:hl])
	return nil
}

// String formats the header like tcpdump: ports, flags, numbers, window
// and options.
func (r Repr) String() string {
	s := fmt.Sprintf("%d > %d [%v] seq %d ack %d win %d", r.SrcPort, r.DstPort, r.Flags, r.Seq, r.Ack, r.Window)
	if o := r.Options.String(); o != "" {
		s += " <" + o + ">"
	}
	return s
}
