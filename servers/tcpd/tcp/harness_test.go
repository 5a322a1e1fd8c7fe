package tcp_test

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"armos/servers/tcpd/tcp"
	"armos/servers/tcpd/tcp/tcptest"
)

// The two hosts of the transfer tests.
var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	portB = uint16(80)
)

// pattern returns n reproducible pseudo-random bytes.
func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b[:n]
}

// transferResult is what runTransfer measured.
type transferResult struct {
	wall     time.Duration // real time the run took
	fake     time.Duration // fake-clock time from connect to both ends closed
	link     tcptest.LinkStats
	a, b     tcp.Counters
	infoA    tcp.Info // the sender's connection at the end of the data
	received []byte
}

// runTransfer opens a connection from A to B over a link with faults f,
// sends data from A (then a FIN), reads it all at B until EOF, closes
// both ends, and waits for both to reach CLOSED (A through TIME-WAIT). It
// fails the test if anything is left undone within limit of fake time.
func runTransfer(t testing.TB, f tcptest.Faults, data []byte, cfg tcp.Config, limit time.Duration) transferResult {
	return runTransferFrom(t, f, data, cfg, limit, nil)
}

// runTransferFrom is runTransfer with a setup function, called before the
// connection opens, that returns the local address to connect from (port 0
// if it returns the zero value).
func runTransferFrom(t testing.TB, f tcptest.Faults, data []byte, cfg tcp.Config, limit time.Duration,
	setup func(l *tcptest.Link, a, b *tcp.Stack) netip.AddrPort) transferResult {
	t.Helper()
	return runTransferOn(t, tcptest.NewLink(f), data, cfg, limit, setup)
}

// runTransferOn is runTransferFrom over link l, which the caller may have
// set up (Plain, Coalesce) before the engines are made on it.
func runTransferOn(t testing.TB, l *tcptest.Link, data []byte, cfg tcp.Config, limit time.Duration,
	setup func(l *tcptest.Link, a, b *tcp.Stack) netip.AddrPort) transferResult {
	t.Helper()
	start := time.Now()
	a := l.NewStack(addrA, cfg)
	b := l.NewStack(addrB, cfg)
	ln, err := b.Listen(netip.AddrPortFrom(addrB, portB), 4)
	require.NoError(t, err)
	local := netip.AddrPortFrom(addrA, 0)
	if setup != nil {
		if p := setup(l, a, b); p.IsValid() {
			local = p
		}
	}
	ca, err := a.Connect(local, netip.AddrPortFrom(addrB, portB))
	require.NoError(t, err)
	t0 := l.Clock.Now()

	var cb *tcp.Conn
	sent, writes, owned := 0, 0, 0
	got := make([]byte, 0, len(data))
	buf := make([]byte, 64<<10)
	var wroteFIN, eofB, closedB, eofA bool
	var infoA tcp.Info
	var failure error
	ok := l.Run(limit, func() bool {
		if err := a.CheckInvariants(); err != nil {
			failure = err
			return true
		}
		if err := b.CheckInvariants(); err != nil {
			failure = err
			return true
		}
		for sent < len(data) {
			// Every other write of a large piece hands its bytes over
			// (WriteOwned, a copy the engine keeps): they are spoilt once
			// given back, so a byte read after that arrives wrong.
			writes++
			if rest := data[sent:]; writes%2 == 0 && len(rest) >= ownedWrite {
				p := append([]byte(nil), rest[:ownedWrite]...)
				took, err := ca.WriteOwned(p, func() {
					owned--
					for i := range p {
						p[i] = 0xee
					}
				})
				if err != nil && !errors.Is(err, tcp.ErrWouldBlock) {
					failure = err
					return true
				}
				if took {
					owned++
					sent += len(p)
					continue
				}
			}
			n, err := ca.Write(data[sent:])
			if errors.Is(err, tcp.ErrWouldBlock) {
				break
			}
			if err != nil {
				failure = err
				return true
			}
			sent += n
		}
		if sent == len(data) && !wroteFIN && ca.State() != tcp.SynSent {
			wroteFIN = true
			infoA = ca.Info()
			if err := ca.CloseWrite(); err != nil {
				failure = err
				return true
			}
		}
		if cb == nil {
			if c, err := ln.Accept(); err == nil {
				cb = c
			}
		}
		for cb != nil && !eofB {
			n, err := cb.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				eofB = true
				break
			}
			if errors.Is(err, tcp.ErrWouldBlock) {
				break
			}
			if err != nil {
				failure = err
				return true
			}
		}
		if eofB && !closedB {
			closedB = true
			if err := cb.Close(); err != nil {
				failure = err
				return true
			}
		}
		if closedB && !eofA {
			if _, err := ca.Read(buf); err == io.EOF {
				eofA = true
				require.NoError(t, ca.Close())
			}
		}
		if ca.Err() != nil {
			failure = ca.Err()
			return true
		}
		return eofA && ca.State() == tcp.Closed && cb.State() == tcp.Closed
	})
	require.NoError(t, failure, "A %v B %v\nlink %+v\nA %v\nB %v", ca.Info(), cb, l.Stats, a.Counters(), b.Counters())
	require.True(t, ok, "not done after %v: sent %d, received %d, eofB %v closedB %v eofA %v\nA %+v\nlink %+v\nA %v\nB %v",
		limit, sent, len(got), eofB, closedB, eofA, ca.Info(), l.Stats, a.Counters(), b.Counters())
	require.Equal(t, len(data), len(got), "byte count")
	require.True(t, string(data) == string(got), "received bytes differ")
	require.Zero(t, owned, "every piece handed over was given back")
	return transferResult{
		wall: time.Since(start), fake: l.Clock.Now().Sub(t0), link: l.Stats,
		a: a.Counters(), b: b.Counters(), infoA: infoA, received: got,
	}
}

// ownedWrite is the piece the transfers hand over with WriteOwned.
const ownedWrite = 24 << 10

func TestTransferSmoke(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 100000} {
		r := runTransfer(t, tcptest.Faults{Delay: 10 * time.Millisecond, Seed: 1}, pattern(n, 1), tcp.Config{}, time.Hour)
		t.Logf("%d bytes: wall %v fake %v segments %d\n%v", n, r.wall, r.fake, r.link.Sent, r.a)
	}
}
