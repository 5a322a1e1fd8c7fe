package dns

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// Limits on names (RFC 1035 section 2.3.4) and on compression.
const (
	MaxLabelLen = 63  // bytes in one label
	MaxNameLen  = 255 // bytes of a name in wire form, length bytes and root included
	// MaxPointers bounds the compression pointers followed while reading
	// one name. Pointers must already go strictly backwards (so they end),
	// but a chain of pointers to pointers could still cost a pass over the
	// message per name; a name has at most 127 labels, so no sensible
	// encoding needs more.
	MaxPointers = 127
)

// Name is a domain name in wire form: labels, each a length byte and that
// many bytes, then the root's zero byte; uncompressed and with its case as
// given. == compares names exactly, case included; EqualFold compares them
// as DNS does (ASCII case-insensitively). The zero Name is not a valid name
// (the root is Root); make names with ParseName or read them from messages.
type Name struct{ wire string }

// Root is the root name, ".".
var Root = Name{"\x00"}

// ParseName reads a name in text form: labels separated by dots, with an
// optional final dot (names are always absolute). A dot or backslash inside
// a label is written \. or \\, any byte as \DDD (three decimal digits).
// "" and "." are the root.
func ParseName(s string) (Name, error) {
	if s == "" || s == "." {
		return Root, nil
	}
	var buf [MaxNameLen]byte
	n := 0     // bytes of buf in use
	start := 0 // index of the current label's length byte
	n++        // room for the first length byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '.':
			l := n - start - 1
			if l == 0 {
				return Name{}, ErrEmptyLabel
			}
			buf[start] = byte(l)
			if i == len(s)-1 { // final dot
				goto done
			}
			if n >= MaxNameLen {
				return Name{}, ErrNameTooLong
			}
			start = n
			n++
			continue
		case '\\':
			if i+1 >= len(s) {
				return Name{}, ErrBadEscape
			}
			if d := s[i+1]; d >= '0' && d <= '9' {
				if i+4 > len(s) {
					return Name{}, ErrBadEscape
				}
				v, err := strconv.ParseUint(s[i+1:i+4], 10, 16)
				if err != nil || v > 255 {
					return Name{}, ErrBadEscape
				}
				c = byte(v)
				i += 3
			} else {
				c = d
				i++
			}
		}
		if n-start-1 >= MaxLabelLen {
			return Name{}, ErrLabelTooLong
		}
		if n >= MaxNameLen-1 { // the root byte must still fit
			return Name{}, ErrNameTooLong
		}
		buf[n] = c
		n++
	}
	if l := n - start - 1; l == 0 {
		return Name{}, ErrEmptyLabel
	} else {
		buf[start] = byte(l)
	}
done:
	if n >= MaxNameLen {
		return Name{}, ErrNameTooLong
	}
	buf[n] = 0
	n++
	return Name{string(buf[:n])}, nil
}

// MustParseName is ParseName for names known to be valid; it panics on an
// error.
func MustParseName(s string) Name {
	n, err := ParseName(s)
	if err != nil {
		panic("dns: MustParseName(" + strconv.Quote(s) + "): " + err.Error())
	}
	return n
}

// NameFromWire checks an uncompressed name in wire form, which must be
// exactly the bytes of b, and returns it.
func NameFromWire(b []byte) (Name, error) {
	if len(b) > MaxNameLen {
		return Name{}, ErrNameTooLong
	}
	for i := 0; i < len(b); {
		l := int(b[i])
		switch {
		case l == 0:
			if i != len(b)-1 {
				return Name{}, ErrBadRData
			}
			return Name{string(b)}, nil
		case l > MaxLabelLen:
			return Name{}, ErrLabelTooLong
		}
		i += 1 + l
	}
	return Name{}, ErrShort
}

// IsZero reports whether n is the zero Name (not a valid name).
func (n Name) IsZero() bool { return n.wire == "" }

// IsRoot reports whether n is the root.
func (n Name) IsRoot() bool { return n.wire == "\x00" }

// Wire returns n in wire form (uncompressed).
func (n Name) Wire() string { return n.wire }

// Len returns the length of n in wire form.
func (n Name) Len() int { return len(n.wire) }

// Labels returns the number of labels in n, the root not counted.
func (n Name) Labels() int {
	c := 0
	for i := 0; i < len(n.wire) && n.wire[i] != 0; i += 1 + int(n.wire[i]) {
		c++
	}
	return c
}

// EqualFold reports whether n and m are the same name, ignoring the case of
// ASCII letters (RFC 4343).
func (n Name) EqualFold(m Name) bool {
	if len(n.wire) != len(m.wire) {
		return false
	}
	for i := 0; i < len(n.wire); i++ {
		if lower(n.wire[i]) != lower(m.wire[i]) {
			return false
		}
	}
	return true
}

// Lower returns n with ASCII letters in lower case (the form a cache keys
// on). Length bytes are at most 63, below 'A', so only label bytes change.
func (n Name) Lower() Name {
	for i := 0; i < len(n.wire); i++ {
		if c := n.wire[i]; c >= 'A' && c <= 'Z' {
			b := []byte(n.wire)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return Name{string(b)}
		}
	}
	return n
}

// MixCase returns n with the case of each ASCII letter chosen by the bits
// of rnd (called once per 64 letters): the "0x20" defence against forged
// answers (draft-vixie-dnsext-dns0x20), since a forger must also guess the
// case of every letter, which the answer's question echoes.
func (n Name) MixCase(rnd func() uint64) Name {
	b := []byte(n.wire)
	var bits uint64
	used := 64
	for i := 0; i < len(b); i++ {
		c := b[i] | 0x20
		if c < 'a' || c > 'z' {
			continue
		}
		if used == 64 {
			bits, used = rnd(), 0
		}
		if bits&(1<<used) != 0 {
			c &^= 0x20
		}
		used++
		b[i] = c
	}
	return Name{string(b)}
}

// lower folds ASCII upper-case letters. It is safe on a name's length bytes
// too: those are at most 63, below 'A'.
func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// String returns n in text form with a final dot, escaping dots and
// backslashes inside labels and any byte outside the printable ASCII range
// as \DDD, so that ParseName(n.String()) == n.
func (n Name) String() string {
	if n.wire == "" {
		return "<invalid>"
	}
	if n.IsRoot() {
		return "."
	}
	var sb strings.Builder
	for i := 0; i < len(n.wire) && n.wire[i] != 0; {
		l := int(n.wire[i])
		for _, c := range []byte(n.wire[i+1 : i+1+l]) {
			switch {
			case c == '.' || c == '\\':
				sb.WriteByte('\\')
				sb.WriteByte(c)
			case c < 0x21 || c > 0x7e:
				sb.WriteByte('\\')
				sb.WriteByte('0' + c/100)
				sb.WriteByte('0' + c/10%10)
				sb.WriteByte('0' + c%10)
			default:
				sb.WriteByte(c)
			}
		}
		sb.WriteByte('.')
		i += 1 + l
	}
	return sb.String()
}

// readName reads a possibly compressed name at off in msg and returns it
// and the offset just after it (after its first pointer, if it has any).
//
// Pointers must point strictly before the run of labels they end (the run
// starts where the name starts, or where the last pointer went), so every
// jump goes backwards past everything read so far and the walk ends; a
// pointer into that run would loop (ErrPointerLoop), one beyond the pointer
// itself is a forward pointer (ErrPointerForward). Pointers into the
// header or past the end are ErrPointerRange.
func readName(msg []byte, off int) (Name, int, error) {
	var buf [MaxNameLen]byte
	n := 0
	end := -1       // offset after the name in the stream, once known
	runStart := off // where the current run of labels started
	pointers := 0
	pos := off
	for {
		if pos >= len(msg) {
			return Name{}, 0, ErrShort
		}
		c := int(msg[pos])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				// n+1 <= MaxNameLen: each label was admitted with room for
				// the root byte.
				buf[n] = 0
				n++
				if end < 0 {
					end = pos + 1
				}
				return Name{string(buf[:n])}, end, nil
			}
			if pos+1+c > len(msg) {
				return Name{}, 0, ErrShort
			}
			if n+1+c+1 > MaxNameLen {
				return Name{}, 0, ErrNameTooLong
			}
			buf[n] = byte(c)
			copy(buf[n+1:], msg[pos+1:pos+1+c])
			n += 1 + c
			pos += 1 + c
		case 0xC0:
			if pos+2 > len(msg) {
				return Name{}, 0, ErrShort
			}
			ptr := int(binary.BigEndian.Uint16(msg[pos:]) & 0x3FFF)
			switch {
			case ptr >= len(msg) || ptr < HeaderLen:
				return Name{}, 0, ErrPointerRange
			case ptr > pos:
				return Name{}, 0, ErrPointerForward
			case ptr >= runStart:
				return Name{}, 0, ErrPointerLoop
			}
			if pointers++; pointers > MaxPointers {
				return Name{}, 0, ErrPointerLoop
			}
			if end < 0 {
				end = pos + 2
			}
			pos, runStart = ptr, ptr
		default: // 64..191: a label too long, or a retired extended label type
			return Name{}, 0, ErrLabelTooLong
		}
	}
}
