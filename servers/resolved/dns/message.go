package dns

import (
	"encoding/binary"
	"fmt"
)

// Sizes of the fixed parts of a message.
const (
	HeaderLen     = 12    // the header
	MaxMessageLen = 65535 // a message (the TCP length prefix's limit)
	// MaxUDPLen is the largest message sent over UDP without EDNS0 (RFC
	// 1035 section 4.2.1).
	MaxUDPLen = 512
	// minQuestionLen and minRRLen are the smallest question and record
	// (root name, fixed fields), to bound a section's count by the bytes
	// left before allocating for it.
	minQuestionLen = 1 + 4
	minRRLen       = 1 + 10
)

// Question is an entry of the question section.
type Question struct {
	Name  Name
	Type  Type
	Class Class
}

func (q Question) String() string { return fmt.Sprintf("%v %v %v", q.Name, q.Class, q.Type) }

// RR is a resource record. Data is the record's data in wire form, with
// the names of types that may be compressed expanded (see the package
// documentation): the bytes are the record's own and may be packed into
// any message.
type RR struct {
	Name  Name
	Type  Type
	Class Class
	TTL   uint32
	Data  []byte
}

func (rr RR) String() string {
	return fmt.Sprintf("%v %d %v %v %x", rr.Name, rr.TTL, rr.Class, rr.Type, rr.Data)
}

// Message is a DNS message.
type Message struct {
	ID          uint16
	Flags       Flags
	Questions   []Question
	Answers     []RR
	Authorities []RR
	Additionals []RR
}

// Parse reads a message. Bytes after the last record are ignored. Errors
// are *ParseError values wrapping the Err* reasons.
func Parse(msg []byte) (*Message, error) {
	if len(msg) > MaxMessageLen {
		return nil, &ParseError{Section: SectionHeader, Err: ErrMessageTooLong}
	}
	if len(msg) < HeaderLen {
		return nil, &ParseError{Section: SectionHeader, Err: ErrShort}
	}
	m := &Message{
		ID:    binary.BigEndian.Uint16(msg[0:]),
		Flags: Flags(binary.BigEndian.Uint16(msg[2:])),
	}
	var counts [4]int
	for i := range counts {
		counts[i] = int(binary.BigEndian.Uint16(msg[4+2*i:]))
	}
	off := HeaderLen
	if n := counts[0]; n > 0 {
		m.Questions = make([]Question, 0, min(n, (len(msg)-off)/minQuestionLen))
		for i := range n {
			name, next, err := readName(msg, off)
			if err == nil && next+4 > len(msg) {
				err = ErrShort
			}
			if err != nil {
				return nil, &ParseError{Section: SectionQuestion, Index: i, Err: err}
			}
			m.Questions = append(m.Questions, Question{
				Name:  name,
				Type:  Type(binary.BigEndian.Uint16(msg[next:])),
				Class: Class(binary.BigEndian.Uint16(msg[next+2:])),
			})
			off = next + 4
		}
	}
	sections := [3]*[]RR{&m.Answers, &m.Authorities, &m.Additionals}
	for s, dst := range sections {
		n := counts[1+s]
		if n == 0 {
			continue
		}
		*dst = make([]RR, 0, min(n, (len(msg)-off)/minRRLen))
		for i := range n {
			rr, next, err := readRR(msg, off)
			if err != nil {
				return nil, &ParseError{Section: SectionAnswer + Section(s), Index: i, Err: err}
			}
			*dst = append(*dst, rr)
			off = next
		}
	}
	return m, nil
}

// readRR reads the record at off and returns it and the offset after it.
func readRR(msg []byte, off int) (RR, int, error) {
	name, off, err := readName(msg, off)
	if err != nil {
		return RR{}, 0, err
	}
	if off+10 > len(msg) {
		return RR{}, 0, ErrShort
	}
	rr := RR{
		Name:  name,
		Type:  Type(binary.BigEndian.Uint16(msg[off:])),
		Class: Class(binary.BigEndian.Uint16(msg[off+2:])),
		TTL:   binary.BigEndian.Uint32(msg[off+4:]),
	}
	n := int(binary.BigEndian.Uint16(msg[off+8:]))
	off += 10
	if off+n > len(msg) {
		return RR{}, 0, ErrShort
	}
	rr.Data, err = readRData(msg, off, off+n, rr.Type)
	if err != nil {
		return RR{}, 0, err
	}
	return rr, off + n, nil
}

// A record type's data layout, for the types whose data holds names: a
// sequence of fields, each a fixed number of bytes (> 0), a name
// (fieldName) or a character-string (fieldString: a length byte and that
// many bytes).
const (
	fieldName   = 0
	fieldString = -1
)

var (
	layoutName      = []int{fieldName}
	layoutTwoNames  = []int{fieldName, fieldName}
	layoutPrefName  = []int{2, fieldName}
	layoutSOA       = []int{fieldName, fieldName, 20}
	layoutPX        = []int{2, fieldName, fieldName}
	layoutSRV       = []int{6, fieldName}
	layoutNAPTR     = []int{4, fieldString, fieldString, fieldString, fieldName}
	layoutA         = []int{4}
	layoutAAAA      = []int{16}
	compressedTypes = map[Type]bool{ // RFC 1035's types, the only ones packed compressed
		TypeNS: true, TypeMD: true, TypeMF: true, TypeCNAME: true, TypeSOA: true,
		TypeMB: true, TypeMG: true, TypeMR: true, TypePTR: true, TypeMINFO: true, TypeMX: true,
	}
)

// layout returns t's data layout, or nil for data kept as it is.
func layout(t Type) []int {
	switch t {
	case TypeNS, TypeMD, TypeMF, TypeCNAME, TypeMB, TypeMG, TypeMR, TypePTR:
		return layoutName
	case TypeMINFO, TypeRP:
		return layoutTwoNames
	case TypeMX, TypeAFSDB, TypeRT:
		return layoutPrefName
	case TypeSOA:
		return layoutSOA
	case TypePX:
		return layoutPX
	case TypeSRV:
		return layoutSRV
	case TypeNAPTR:
		return layoutNAPTR
	case TypeA:
		return layoutA
	case TypeAAAA:
		return layoutAAAA
	}
	return nil
}

// readRData returns a copy of the data in msg[off:end] of a record of type
// t, with any names expanded. The data must match t's layout exactly.
func readRData(msg []byte, off, end int, t Type) ([]byte, error) {
	lay := layout(t)
	if lay == nil {
		return append([]byte(nil), msg[off:end]...), nil
	}
	out := make([]byte, 0, end-off)
	for _, f := range lay {
		switch f {
		case fieldName:
			// Pointers go backwards, so the name lies in msg[:end]; what
			// runs past the data is bad data, not a short message.
			name, next, err := readName(msg[:end], off)
			if err == ErrShort {
				err = ErrBadRData
			}
			if err != nil {
				return nil, err
			}
			out = append(out, name.wire...)
			off = next
		case fieldString:
			if off >= end || off+1+int(msg[off]) > end {
				return nil, ErrBadRData
			}
			out = append(out, msg[off:off+1+int(msg[off])]...)
			off += 1 + int(msg[off])
		default:
			if off+f > end {
				return nil, ErrBadRData
			}
			out = append(out, msg[off:off+f]...)
			off += f
		}
	}
	if off != end {
		return nil, ErrBadRData
	}
	return out, nil
}
