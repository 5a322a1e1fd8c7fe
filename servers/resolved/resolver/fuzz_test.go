package resolver

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/resolved/dns"
)

// FuzzEngineInput gives a lookup arbitrary answers (with the ID it sent, so
// that the rest of the message is explored). Nothing panics, every
// datagram is accepted or dropped under one counter, the lookup ends
// exactly once, and then no try is left open.
func FuzzEngineInput(f *testing.F) {
	z := newZone(cname("www.test", 60, "h.test"), a("h.test", 60, "10.0.0.6"))
	seed := func(n string, t dns.Type) []byte {
		fx := newFixture(&testing.T{}, Config{No0x20: true}, z)
		fx.lookup(n, t)
		return z.respond(fx.up.sent[0].raw)
	}
	f.Add(seed("www.test", dns.TypeA), seed("h.test", dns.TypeA))
	f.Add(seed("nope.test", dns.TypeA), []byte{})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		fx := newFixture(t, Config{No0x20: true, Servers: []netip.AddrPort{server1, server2}}, newZone())
		var results int
		fx.e.Lookup(name("www.test"), dns.TypeA, func(Result) { results++ })
		for _, b := range [][]byte{first, second} {
			s := fx.up.sent[len(fx.up.sent)-1]
			if len(b) >= 2 {
				b = append([]byte(nil), b...)
				binary.BigEndian.PutUint16(b, s.m.ID)
			}
			fx.e.Input(s.a, s.server, b)
		}
		u := fx.counters().Upstream
		require.Equal(t, u.RxDatagrams, u.Accepted+u.RxMalformed+u.RxUnknown+u.RxWrongID+u.RxWrongSource+
			u.RxNotResponse+u.RxBadOpcode+u.RxWrongQuestion+u.RxCaseMismatch)
		for range 20 {
			fx.clock.Advance(time.Minute)
			fx.e.Tick()
		}
		require.Equal(t, 1, results)
		require.Zero(t, fx.e.InFlight())
		require.Empty(t, fx.e.attempts)
		require.Empty(t, fx.e.byID)
		require.Equal(t, len(fx.up.sent), len(fx.up.done))
	})
}

// FuzzAnswer gives the client side arbitrary messages: nothing panics,
// each gets at most one reply, which parses and carries the query's ID.
func FuzzAnswer(f *testing.F) {
	f.Add(query(1, "www.test", dns.TypeA, 1232))
	f.Add(query(1, "x.test", dns.TypeANY, 0))
	f.Add([]byte{0, 1, 0x80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fx := newFixture(t, Config{}, newZone(cname("www.test", 60, "h.test"), a("h.test", 60, "10.0.0.6")))
		out := fx.ask(b, len(b)%2 == 0)
		fx.serve()
		for range 10 {
			fx.clock.Advance(time.Minute)
			fx.e.Tick()
		}
		c := fx.counters().Clients
		require.Equal(t, uint64(1), c.Queries)
		require.Equal(t, c.Answered, uint64(len(*out)))
		require.Equal(t, uint64(1), c.Answered+c.DropShort+c.DropNotQry)
		if len(*out) == 1 {
			m, err := dns.Parse((*out)[0])
			require.NoError(t, err)
			require.Equal(t, binary.BigEndian.Uint16(b), m.ID)
			require.True(t, m.Flags.Has(dns.FlagQR))
		}
	})
}
