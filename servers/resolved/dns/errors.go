package dns

import (
	"errors"
	"fmt"
)

// Reasons a message or name is rejected. ParseError wraps them: test with
// errors.Is.
var (
	// ErrShort: the message ends inside a field (header, name, question,
	// record or record data).
	ErrShort = errors.New("dns: message truncated")
	// ErrMessageTooLong: longer than 65,535 bytes (parse or pack).
	ErrMessageTooLong = errors.New("dns: message longer than 65535 bytes")
	// ErrLabelTooLong: a label longer than 63 bytes; in a message, a length
	// byte of 64..191, whose top bits 01 and 10 RFC 1035 reserves (RFC
	// 6891 retired the extended label types that used them).
	ErrLabelTooLong = errors.New("dns: label longer than 63 bytes")
	// ErrNameTooLong: a name longer than 255 bytes in wire form.
	ErrNameTooLong = errors.New("dns: name longer than 255 bytes")
	// ErrEmptyLabel: an empty label inside a name ("a..b").
	ErrEmptyLabel = errors.New("dns: empty label")
	// ErrBadEscape: a malformed \ escape in a name's text form.
	ErrBadEscape = errors.New("dns: bad escape in name")
	// ErrPointerLoop: a compression pointer into the name being read (it
	// would loop), or more than MaxPointers pointers in one name.
	ErrPointerLoop = errors.New("dns: compression pointer loop")
	// ErrPointerForward: a compression pointer to a later offset (RFC 1035
	// allows only prior occurrences).
	ErrPointerForward = errors.New("dns: compression pointer forward")
	// ErrPointerRange: a compression pointer past the end of the message
	// or into its header.
	ErrPointerRange = errors.New("dns: compression pointer out of range")
	// ErrBadRData: record data that does not match its type's layout (an A
	// record that is not 4 bytes, a CNAME whose name does not fill it,
	// ...).
	ErrBadRData = errors.New("dns: bad record data")
	// ErrTooMany: more than 65,535 records in a section (pack).
	ErrTooMany = errors.New("dns: too many records in a section")
	// ErrRDataTooLong: record data longer than 65,535 bytes (pack).
	ErrRDataTooLong = errors.New("dns: record data longer than 65535 bytes")
	// ErrInvalidName: the zero Name given to Pack.
	ErrInvalidName = errors.New("dns: invalid (zero) name")
)

// Section names a part of a message.
type Section uint8

// The sections of a message, in order.
const (
	SectionHeader Section = iota
	SectionQuestion
	SectionAnswer
	SectionAuthority
	SectionAdditional
)

var sectionNames = [...]string{"header", "question", "answer", "authority", "additional"}

func (s Section) String() string {
	if int(s) < len(sectionNames) {
		return sectionNames[s]
	}
	return fmt.Sprintf("section%d", s)
}

// ParseError says where a message was rejected: in which section, at
// which entry (0-based), and why (Err, one of the Err* values).
type ParseError struct {
	Section Section
	Index   int
	Err     error
}

func (e *ParseError) Error() string {
	if e.Section == SectionHeader {
		return fmt.Sprintf("%v (header)", e.Err)
	}
	return fmt.Sprintf("%v (%v %d)", e.Err, e.Section, e.Index)
}

func (e *ParseError) Unwrap() error { return e.Err }
