package dns

import "strconv"

// Type is a record type (RFC 1035 section 3.2.2 and later).
type Type uint16

// Record types this package names. Others are carried as numbers.
const (
	TypeA     Type = 1
	TypeNS    Type = 2
	TypeMD    Type = 3
	TypeMF    Type = 4
	TypeCNAME Type = 5
	TypeSOA   Type = 6
	TypeMB    Type = 7
	TypeMG    Type = 8
	TypeMR    Type = 9
	TypeNULL  Type = 10
	TypePTR   Type = 12
	TypeHINFO Type = 13
	TypeMINFO Type = 14
	TypeMX    Type = 15
	TypeTXT   Type = 16
	TypeRP    Type = 17
	TypeAFSDB Type = 18
	TypeRT    Type = 21
	TypeAAAA  Type = 28
	TypeSRV   Type = 33
	TypeNAPTR Type = 35
	TypePX    Type = 26
	TypeDNAME Type = 39
	TypeOPT   Type = 41
	TypeIXFR  Type = 251
	TypeAXFR  Type = 252
	TypeANY   Type = 255
)

var typeNames = map[Type]string{
	TypeA: "A", TypeNS: "NS", TypeMD: "MD", TypeMF: "MF", TypeCNAME: "CNAME",
	TypeSOA: "SOA", TypeMB: "MB", TypeMG: "MG", TypeMR: "MR", TypeNULL: "NULL",
	TypePTR: "PTR", TypeHINFO: "HINFO", TypeMINFO: "MINFO", TypeMX: "MX",
	TypeTXT: "TXT", TypeRP: "RP", TypeAFSDB: "AFSDB", TypeRT: "RT",
	TypeAAAA: "AAAA", TypeSRV: "SRV", TypeNAPTR: "NAPTR", TypePX: "PX",
	TypeDNAME: "DNAME", TypeOPT: "OPT", TypeIXFR: "IXFR", TypeAXFR: "AXFR",
	TypeANY: "ANY",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t)) // RFC 3597 section 5
}

// Class is a record class.
type Class uint16

// ClassINET is the Internet class, the only one a resolver serves.
const ClassINET Class = 1

func (c Class) String() string {
	if c == ClassINET {
		return "IN"
	}
	return "CLASS" + strconv.Itoa(int(c))
}

// Opcode is the kind of a message (header bits 11-14).
type Opcode uint8

// OpcodeQuery is a standard query, the only kind a resolver answers.
const OpcodeQuery Opcode = 0

// RCode is a response code (the header's low 4 bits).
type RCode uint8

// Response codes (RFC 1035 section 4.1.1).
const (
	RCodeSuccess        RCode = 0 // NOERROR
	RCodeFormatError    RCode = 1 // FORMERR
	RCodeServerFailure  RCode = 2 // SERVFAIL
	RCodeNameError      RCode = 3 // NXDOMAIN
	RCodeNotImplemented RCode = 4 // NOTIMP
	RCodeRefused        RCode = 5 // REFUSED
)

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}

func (r RCode) String() string {
	if int(r) < len(rcodeNames) {
		return rcodeNames[r]
	}
	return "RCODE" + strconv.Itoa(int(r))
}

// Flags is the header's second 16-bit word: QR, opcode, AA, TC, RD, RA, Z,
// AD, CD and the response code. It is kept whole so a parsed message packs
// back bit for bit.
type Flags uint16

// The single-bit flags.
const (
	FlagQR Flags = 1 << 15 // a response
	FlagAA Flags = 1 << 10 // authoritative answer
	FlagTC Flags = 1 << 9  // truncated
	FlagRD Flags = 1 << 8  // recursion desired
	FlagRA Flags = 1 << 7  // recursion available
	FlagZ  Flags = 1 << 6  // reserved, zero
	FlagAD Flags = 1 << 5  // authentic data (RFC 4035)
	FlagCD Flags = 1 << 4  // checking disabled (RFC 4035)
)

// Has reports whether every bit of x is set in f.
func (f Flags) Has(x Flags) bool { return f&x == x }

// Opcode returns the opcode field.
func (f Flags) Opcode() Opcode { return Opcode(f >> 11 & 0xF) }

// RCode returns the response code field.
func (f Flags) RCode() RCode { return RCode(f & 0xF) }

// WithOpcode returns f with the opcode field set to o (low 4 bits).
func (f Flags) WithOpcode(o Opcode) Flags { return f&^(0xF<<11) | Flags(o&0xF)<<11 }

// WithRCode returns f with the response code field set to r (low 4 bits).
func (f Flags) WithRCode(r RCode) Flags { return f&^0xF | Flags(r&0xF) }
