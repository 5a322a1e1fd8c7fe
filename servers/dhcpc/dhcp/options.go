package dhcp

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"time"
)

// Option codes (RFC 2132) this package knows.
const (
	OptPad             = 0
	OptSubnetMask      = 1
	OptRouter          = 3
	OptDNS             = 6
	OptHostname        = 12
	OptDomainName      = 15
	OptMTU             = 26
	OptBroadcast       = 28
	OptRequestedIP     = 50
	OptLeaseTime       = 51
	OptOverload        = 52
	OptMessageType     = 53
	OptServerID        = 54
	OptParamRequest    = 55
	OptMessage         = 56
	OptMaxMessageSize  = 57
	OptRenewalTime     = 58 // T1
	OptRebindingTime   = 59 // T2
	OptClientID        = 61
	OptEnd             = 255
	minMTU             = 68
	minMaxMessageSize  = 576
	infiniteLeaseValue = 0xffffffff
)

// Infinite is the lease time 0xffffffff (RFC 2131 section 3.3).
const Infinite = time.Duration(infiniteLeaseValue) * time.Second

// Option is one option, all its instances concatenated.
type Option struct {
	Code byte
	Data []byte
}

// Options is a message's options in order of first appearance, one entry
// per code.
type Options []Option

// Get returns the data of option code.
func (o Options) Get(code byte) ([]byte, bool) {
	for _, x := range o {
		if x.Code == code {
			return x.Data, true
		}
	}
	return nil, false
}

// Set replaces option code's data, or appends the option.
func (o *Options) Set(code byte, data []byte) {
	for i := range *o {
		if (*o)[i].Code == code {
			(*o)[i].Data = data
			return
		}
	}
	*o = append(*o, Option{Code: code, Data: data})
}

// Addr returns option code as one IPv4 address.
func (o Options) Addr(code byte) (netip.Addr, bool) {
	v, ok := o.Get(code)
	if !ok || len(v) != 4 {
		return netip.Addr{}, false
	}
	return addr4(v), true
}

// Addrs returns option code as a list of IPv4 addresses.
func (o Options) Addrs(code byte) []netip.Addr {
	v, _ := o.Get(code)
	var out []netip.Addr
	for len(v) >= 4 {
		out = append(out, addr4(v))
		v = v[4:]
	}
	return out
}

// Uint16 returns option code as a 16-bit number.
func (o Options) Uint16(code byte) (uint16, bool) {
	v, ok := o.Get(code)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// Duration returns option code as a time in seconds (lease, T1, T2);
// 0xffffffff is Infinite.
func (o Options) Duration(code byte) (time.Duration, bool) {
	v, ok := o.Get(code)
	if !ok || len(v) != 4 {
		return 0, false
	}
	return time.Duration(binary.BigEndian.Uint32(v)) * time.Second, true
}

// PrefixLen returns the subnet mask option as a prefix length.
func (o Options) PrefixLen() (int, bool) {
	v, ok := o.Get(OptSubnetMask)
	if !ok || len(v) != 4 {
		return 0, false
	}
	return bits.LeadingZeros32(^binary.BigEndian.Uint32(v)), true
}

// AddrData encodes addresses for an address option.
func AddrData(addrs ...netip.Addr) []byte {
	out := make([]byte, 0, 4*len(addrs))
	for _, a := range addrs {
		v := a.As4()
		out = append(out, v[:]...)
	}
	return out
}

// Uint16Data and Uint32Data encode numbers.
func Uint16Data(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func Uint32Data(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// DurationData encodes a time in whole seconds (Infinite or more as
// 0xffffffff).
func DurationData(d time.Duration) []byte {
	s := d / time.Second
	if d >= Infinite {
		s = infiniteLeaseValue
	}
	return Uint32Data(uint32(s))
}

// MaskData encodes a prefix length as a subnet mask.
func MaskData(bitsLen int) []byte {
	return Uint32Data(^uint32(0) << (32 - bitsLen)) // a shift by 32 is 0
}

// validate checks a known option's length and value (RFC 2132).
func validate(o Option) error {
	n := len(o.Data)
	switch o.Code {
	case OptSubnetMask:
		if n != 4 {
			return ErrBadOption
		}
		inv := ^binary.BigEndian.Uint32(o.Data)
		if inv&(inv+1) != 0 { // ones then zeros: the inverse is 0...01...1
			return ErrBadOption
		}
	case OptBroadcast, OptRequestedIP, OptServerID, OptLeaseTime, OptRenewalTime, OptRebindingTime:
		if n != 4 {
			return ErrBadOption
		}
	case OptRouter, OptDNS:
		if n == 0 || n%4 != 0 {
			return ErrBadOption
		}
	case OptMTU:
		if n != 2 || binary.BigEndian.Uint16(o.Data) < minMTU {
			return ErrBadOption
		}
	case OptMaxMessageSize:
		if n != 2 || binary.BigEndian.Uint16(o.Data) < minMaxMessageSize {
			return ErrBadOption
		}
	case OptMessageType:
		if n != 1 || o.Data[0] < 1 || o.Data[0] > 8 {
			return ErrBadOption
		}
	case OptHostname, OptDomainName, OptParamRequest, OptMessage:
		if n == 0 {
			return ErrBadOption
		}
	case OptClientID:
		if n < 2 {
			return ErrBadOption
		}
	}
	return nil
}
