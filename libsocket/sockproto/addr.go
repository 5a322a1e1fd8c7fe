package sockproto

import (
	"errors"
	"net/netip"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Addr is an IP address and port as carried in socket messages: a
// netip.AddrPort with a compact msgpack encoding that decodes without
// allocating for IPv4:
//
//   - nil: no address (the zero Addr);
//   - an unsigned integer: IPv4, address<<16 | port (10.0.2.15:7 is
//     0x0a00020f0007);
//   - a bin of 18 bytes: IPv6, address then port (big endian).
//
// Anything else is a decoding error. The methods have pointer receivers so
// that encoding a message (always passed by pointer) does not copy the
// address into an interface; encode an Addr on its own by pointer too.
//
// Convert with AddrFrom and Addr.AddrPort; both are free.
type Addr netip.AddrPort

// addrLen6 is the encoded length of an IPv6 Addr.
const addrLen6 = 16 + 2

// ErrBadAddr is returned when an encoded Addr is neither nil, an IPv4
// integer below 1<<48, nor an 18-byte IPv6 bin.
var ErrBadAddr = errors.New("sockproto: bad encoded address")

// AddrFrom converts a netip.AddrPort.
func AddrFrom(ap netip.AddrPort) Addr { return Addr(ap) }

// AddrPort returns the address as a netip.AddrPort.
func (a Addr) AddrPort() netip.AddrPort { return netip.AddrPort(a) }

// IsValid reports whether a holds an address (the zero Addr does not).
func (a Addr) IsValid() bool { return netip.AddrPort(a).IsValid() }

// String formats the address as netip does ("192.0.2.1:7"), or "none".
func (a Addr) String() string {
	if !a.IsValid() {
		return "none"
	}
	return netip.AddrPort(a).String()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (a *Addr) EncodeMsgpack(e *msgpack.Encoder) error {
	ap := netip.AddrPort(*a)
	switch {
	case !ap.IsValid():
		return e.EncodeNil()
	case ap.Addr().Is4():
		ip := ap.Addr().As4()
		v := uint64(ip[0])<<40 | uint64(ip[1])<<32 | uint64(ip[2])<<24 | uint64(ip[3])<<16 | uint64(ap.Port())
		return e.EncodeUint(v)
	}
	b := make([]byte, addrLen6)
	ip := ap.Addr().As16()
	copy(b, ip[:])
	b[16], b[17] = byte(ap.Port()>>8), byte(ap.Port())
	return e.EncodeBytes(b)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (a *Addr) DecodeMsgpack(d *msgpack.Decoder) error {
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case c == msgpcode.Nil:
		*a = Addr{}
		return d.DecodeNil()
	case msgpcode.IsBin(c):
		// Check the declared length before reading: DecodeBytes would
		// allocate whatever length a hostile header claims (up to 4 GiB).
		n, err := d.DecodeBytesLen()
		if err != nil {
			return err
		}
		if n != addrLen6 {
			return ErrBadAddr
		}
		var b [addrLen6]byte
		if err := d.ReadFull(b[:]); err != nil {
			return err
		}
		ip := netip.AddrFrom16([16]byte(b[:16]))
		*a = Addr(netip.AddrPortFrom(ip, uint16(b[16])<<8|uint16(b[17])))
		return nil
	case msgpcode.IsFixedNum(c) || (c >= msgpcode.Uint8 && c <= msgpcode.Int64):
		v, err := d.DecodeUint64()
		if err != nil {
			return err
		}
		if v >= 1<<48 {
			return ErrBadAddr
		}
		ip := netip.AddrFrom4([4]byte{byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16)})
		*a = Addr(netip.AddrPortFrom(ip, uint16(v)))
		return nil
	}
	return ErrBadAddr
}
