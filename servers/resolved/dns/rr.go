package dns

import (
	"encoding/binary"
	"net/netip"
)

// NewA returns an A record for addr (an IPv4 address).
func NewA(name Name, ttl uint32, addr netip.Addr) RR {
	a := addr.As4()
	return RR{Name: name, Type: TypeA, Class: ClassINET, TTL: ttl, Data: a[:]}
}

// NewAAAA returns an AAAA record for addr (RFC 3596).
func NewAAAA(name Name, ttl uint32, addr netip.Addr) RR {
	a := addr.As16()
	return RR{Name: name, Type: TypeAAAA, Class: ClassINET, TTL: ttl, Data: a[:]}
}

// NewCNAME returns a CNAME record: name is an alias of target.
func NewCNAME(name Name, ttl uint32, target Name) RR {
	return RR{Name: name, Type: TypeCNAME, Class: ClassINET, TTL: ttl, Data: []byte(target.wire)}
}

// SOA is the data of an SOA record (RFC 1035 section 3.3.13). Minimum is
// the TTL of negative answers from the zone (RFC 2308).
type SOA struct {
	MName, RName                            Name
	Serial, Refresh, Retry, Expire, Minimum uint32
}

// NewSOA returns an SOA record.
func NewSOA(name Name, ttl uint32, soa SOA) RR {
	d := make([]byte, 0, soa.MName.Len()+soa.RName.Len()+20)
	d = append(d, soa.MName.wire...)
	d = append(d, soa.RName.wire...)
	for _, v := range [5]uint32{soa.Serial, soa.Refresh, soa.Retry, soa.Expire, soa.Minimum} {
		d = binary.BigEndian.AppendUint32(d, v)
	}
	return RR{Name: name, Type: TypeSOA, Class: ClassINET, TTL: ttl, Data: d}
}

// NewOPT returns EDNS0's OPT pseudo-record (RFC 6891) advertising a UDP
// payload size, version 0, no options.
func NewOPT(udpSize uint16) RR {
	return RR{Name: Root, Type: TypeOPT, Class: Class(udpSize)}
}

// A returns an A record's address.
func (rr RR) A() (netip.Addr, bool) {
	if rr.Type != TypeA || len(rr.Data) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(rr.Data)), true
}

// AAAA returns an AAAA record's address.
func (rr RR) AAAA() (netip.Addr, bool) {
	if rr.Type != TypeAAAA || len(rr.Data) != 16 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(rr.Data)), true
}

// CNAME returns a CNAME record's target.
func (rr RR) CNAME() (Name, bool) {
	if rr.Type != TypeCNAME {
		return Name{}, false
	}
	n, err := NameFromWire(rr.Data)
	return n, err == nil
}

// SOA returns an SOA record's data.
func (rr RR) SOA() (SOA, bool) {
	if rr.Type != TypeSOA {
		return SOA{}, false
	}
	var s SOA
	var err error
	off := 0
	if s.MName, off, err = nameAt(rr.Data, off); err != nil {
		return SOA{}, false
	}
	if s.RName, off, err = nameAt(rr.Data, off); err != nil || len(rr.Data)-off != 20 {
		return SOA{}, false
	}
	v := rr.Data[off:]
	s.Serial = binary.BigEndian.Uint32(v)
	s.Refresh = binary.BigEndian.Uint32(v[4:])
	s.Retry = binary.BigEndian.Uint32(v[8:])
	s.Expire = binary.BigEndian.Uint32(v[12:])
	s.Minimum = binary.BigEndian.Uint32(v[16:])
	return s, true
}

// EDNS returns the UDP payload size advertised by m's OPT record (RFC 6891
// section 6.2.3), if it has one.
func (m *Message) EDNS() (udpSize uint16, ok bool) {
	for _, rr := range m.Additionals {
		if rr.Type == TypeOPT {
			return uint16(rr.Class), true
		}
	}
	return 0, false
}
