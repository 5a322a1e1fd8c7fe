package wire

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Option kinds (IANA "TCP Option Kind Numbers").
const (
	OptEnd           = 0 // end of option list (RFC 9293)
	OptNOP           = 1 // no-operation (RFC 9293)
	OptMSS           = 2 // maximum segment size (RFC 9293 3.7.1)
	OptWindowScale   = 3 // window scale (RFC 7323 section 2)
	OptSACKPermitted = 4 // SACK permitted (RFC 2018)
	OptSACK          = 5 // SACK blocks (RFC 2018)
	OptTimestamps    = 8 // timestamps (RFC 7323 section 3)
)

// Encoded lengths of the options with a fixed size.
const (
	lenMSS           = 4
	lenWindowScale   = 3
	lenSACKPermitted = 2
	lenTimestamps    = 10
	lenSACKBlock     = 8
)

// MaxSACKBlocks is the most blocks a SACK option can carry in the 40
// bytes of option space (RFC 2018 section 3: 2 + 8n bytes).
const MaxSACKBlocks = 4

// SACKBlock is one block of a SACK option: the sequence numbers of the
// first byte of a run of data the receiver holds and of the byte after it.
type SACKBlock struct{ Left, Right uint32 }

// MaxWindowScale is the largest shift RFC 7323 allows (2.3: larger values
// are used as 14).
const MaxWindowScale = 14

// Options are the TCP options tcpd reads and writes. The zero value is "no
// options".
type Options struct {
	// MSS is the maximum segment size the sender can receive; 0 when
	// absent (only meaningful on a SYN).
	MSS uint16
	// HasWindowScale says the window scale option is present (only on a
	// SYN); WindowScale is its shift count as sent (may exceed 14).
	HasWindowScale bool
	WindowScale    uint8
	// SACKPermitted says the SACK-permitted option is present.
	SACKPermitted bool
	// HasTimestamps says the timestamps option is present, with TSVal and
	// TSEcr.
	HasTimestamps bool
	TSVal, TSEcr  uint32
	// SACK holds the first NSACK blocks of a SACK option (RFC 2018); none
	// when NSACK is 0.
	SACK  [MaxSACKBlocks]SACKBlock
	NSACK int
}

// Len returns the encoded length of o, padded to a multiple of 4 with NOPs
// the way Emit lays it out.
func (o Options) Len() int {
	n := 0
	if o.MSS != 0 {
		n += 4
	}
	if o.HasTimestamps || o.SACKPermitted {
		n += 4 // NOP NOP SACK-permitted, or SACK-permitted before timestamps
	}
	if o.HasTimestamps {
		n += 8 // with 2 of the word above: 10 bytes of timestamps
	}
	if o.HasWindowScale {
		n += 4
	}
	if o.NSACK > 0 {
		n += 4 + lenSACKBlock*o.NSACK // NOP NOP before the option
	}
	return n
}

// emit writes o into b, which is exactly o.Len() bytes, in Linux's layout:
//
//	MSS:              02 04 mm mm
//	SACK-permitted:   01 01 04 02, or 04 02 before timestamps
//	timestamps:       [01 01] 08 0a vvvvvvvv eeeeeeee
//	window scale:     01 03 03 ss
//	SACK:             01 01 05 ll (llllllll rrrrrrrr)...
func (o Options) emit(b []byte) {
	if o.MSS != 0 {
		b[0], b[1] = OptMSS, lenMSS
		binary.BigEndian.PutUint16(b[2:4], o.MSS)
		b = b[4:]
	}
	switch {
	case o.HasTimestamps && o.SACKPermitted:
		b[0], b[1] = OptSACKPermitted, lenSACKPermitted
	case o.HasTimestamps || o.SACKPermitted:
		b[0], b[1] = OptNOP, OptNOP
	}
	if !o.HasTimestamps && o.SACKPermitted {
		b[2], b[3] = OptSACKPermitted, lenSACKPermitted
		b = b[4:]
	}
	if o.HasTimestamps {
		b[2], b[3] = OptTimestamps, lenTimestamps
		binary.BigEndian.PutUint32(b[4:8], o.TSVal)
		binary.BigEndian.PutUint32(b[8:12], o.TSEcr)
		b = b[12:]
	}
	if o.HasWindowScale {
		b[0], b[1], b[2], b[3] = OptNOP, OptWindowScale, lenWindowScale, o.WindowScale
		b = b[4:]
	}
	if o.NSACK > 0 {
		b[0], b[1], b[2], b[3] = OptNOP, OptNOP, OptSACK, byte(2+lenSACKBlock*o.NSACK)
		for i, k := range o.SACK[:o.NSACK] {
			binary.BigEndian.PutUint32(b[4+8*i:], k.Left)
			binary.BigEndian.PutUint32(b[8+8*i:], k.Right)
		}
	}
}

// walkOptions walks the option bytes of a header, filling o (if not nil)
// with the options it knows. It fails only when a length byte makes the
// rest unreadable.
func walkOptions(b []byte, o *Options) error {
	for len(b) > 0 {
		kind := b[0]
		if kind == OptEnd {
			return nil
		}
		if kind == OptNOP {
			b = b[1:]
			continue
		}
		if len(b) < 2 || b[1] < 2 || int(b[1]) > len(b) {
			return ErrBadOption
		}
		n := int(b[1])
		if o != nil {
			o.set(kind, b[:n])
		}
		b = b[n:]
	}
	return nil
}

// set records one option (kind, length and value in opt) if tcpd knows its
// kind and its length is right; others are ignored.
func (o *Options) set(kind byte, opt []byte) {
	switch {
	case kind == OptMSS && len(opt) == lenMSS:
		o.MSS = binary.BigEndian.Uint16(opt[2:])
	case kind == OptWindowScale && len(opt) == lenWindowScale:
		o.HasWindowScale, o.WindowScale = true, opt[2]
	case kind == OptSACKPermitted && len(opt) == lenSACKPermitted:
		o.SACKPermitted = true
	case kind == OptTimestamps && len(opt) == lenTimestamps:
		o.HasTimestamps = true
		o.TSVal = binary.BigEndian.Uint32(opt[2:])
		o.TSEcr = binary.BigEndian.Uint32(opt[6:])
	case kind == OptSACK && len(opt) > 2 && (len(opt)-2)%lenSACKBlock == 0:
		o.NSACK = (len(opt) - 2) / lenSACKBlock // at most 4: a length byte <= 40 fits the header
		for i := range o.NSACK {
			o.SACK[i] = SACKBlock{binary.BigEndian.Uint32(opt[2+8*i:]), binary.BigEndian.Uint32(opt[6+8*i:])}
		}
	}
}

// String lists the options present like tcpdump ("mss 1460,sackOK,TS val 1
// ecr 0,wscale 7"), or "" for none.
func (o Options) String() string {
	var parts []string
	if o.MSS != 0 {
		parts = append(parts, fmt.Sprintf("mss %d", o.MSS))
	}
	if o.SACKPermitted {
		parts = append(parts, "sackOK")
	}
	if o.HasTimestamps {
		parts = append(parts, fmt.Sprintf("TS val %d ecr %d", o.TSVal, o.TSEcr))
	}
	if o.HasWindowScale {
		parts = append(parts, fmt.Sprintf("wscale %d", o.WindowScale))
	}
	if o.NSACK > 0 {
		var sb strings.Builder
		sb.WriteString("sack")
		for _, k := range o.SACK[:o.NSACK] {
			fmt.Fprintf(&sb, " {%d:%d}", k.Left, k.Right)
		}
		parts = append(parts, sb.String())
	}
	return strings.Join(parts, ",")
}
