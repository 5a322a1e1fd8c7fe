package client

import (
	"testing"
	"time"

	"armos/servers/dhcpc/dhcp"
)

// FuzzInput feeds datagrams to a client in each state it can be in:
// nothing panics, every datagram is accepted or dropped and counted, and
// the client stays in a state with a deadline or a lease.
func FuzzInput(f *testing.F) {
	h := newHarness(f, Config{}, false)
	h.c.Start()
	h.advance(0)
	f.Add(uint8(0), h.reply(dhcp.Offer, srvAddr, yiaddr), uint16(67))
	f.Add(uint8(1), h.reply(dhcp.Ack, srvAddr, yiaddr), uint16(67))
	f.Add(uint8(2), h.reply(dhcp.Nak, srvAddr, yiaddr), uint16(67))
	f.Add(uint8(3), []byte{2, 1, 6, 0}, uint16(67))
	f.Fuzz(func(t *testing.T, state uint8, b []byte, port uint16) {
		h := newHarness(t, Config{}, state&4 != 0)
		switch state % 4 {
		case 0: // SELECTING
			h.c.Start()
			h.advance(0)
		case 1: // REQUESTING
			h.c.Start()
			h.advance(0)
			h.c.Input(h.reply(dhcp.Offer, srvAddr, yiaddr), fromSrv)
		case 2: // RENEWING
			h.bind()
			h.advance(500 * time.Second)
		case 3: // REBOOTING
			l := Lease{Addr: netipPrefix(yiaddr, 24), Server: srvAddr, Duration: time.Hour, Start: t0}
			h.c.lease, h.c.haveLease = l, true
			h.c.Start()
		}
		// The fuzzer's bytes, with the live xid and our chaddr patched in
		// half the time so that they reach the state machine.
		if len(b) >= 44 && state&8 != 0 {
			x := h.last().Msg.XID
			b[4], b[5], b[6], b[7] = byte(x>>24), byte(x>>16), byte(x>>8), byte(x)
			copy(b[28:34], mac[:])
		}
		h.c.Input(b, netipAddrPort(srvAddr, port))
		h.checkRx()
		h.advance(3000 * time.Second)
		h.checkRx()
	})
}
