package linuxref

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"time"
)

// MaxEchoWait is the default bound on the wait for one echo reply; a
// datagram not answered by then is counted as lost.
const MaxEchoWait = time.Second

// EchoStats are the results of an echo run.
type EchoStats struct {
	RTTs []time.Duration // one per answered datagram, in send order
	Lost int             // datagrams not answered within MaxEchoWait
	// Stale counts replies that arrived after their datagram was given up
	// on (or were not ours), which were discarded.
	Stale int
}

// ErrNotLoopback is returned for an echo target off the loopback
// interface: benchmarks only send to 127.0.0.1 (slirp's host forward).
var ErrNotLoopback = errors.New("linuxref: echo target must be a loopback address")

// Echo sends count UDP datagrams of size bytes to target, one in flight,
// and times each reply, waiting at most wait (MaxEchoWait if 0) for each. The first 8 bytes of each datagram carry its
// sequence number, so late replies are not mistaken for current ones.
func Echo(target netip.AddrPort, count, size int, wait time.Duration) (EchoStats, error) {
	var st EchoStats
	if !target.Addr().IsLoopback() {
		return st, ErrNotLoopback
	}
	if size < 8 || size > 65507 {
		return st, fmt.Errorf("linuxref: echo size %d out of range [8, 65507]", size)
	}
	if wait <= 0 {
		wait = MaxEchoWait
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return st, err
	}
	defer c.Close()
	out := make([]byte, size)
	in := make([]byte, size+1)
	for i := range out[8:] {
		out[8+i] = byte(i)
	}
	for seq := uint64(1); seq <= uint64(count); seq++ {
		binary.BigEndian.PutUint64(out, seq)
		start := time.Now()
		if _, err := c.Write(out); err != nil {
			return st, err
		}
		deadline := start.Add(wait)
		if err := c.SetReadDeadline(deadline); err != nil {
			return st, err
		}
		for {
			n, err := c.Read(in)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					st.Lost++
					break
				}
				return st, fmt.Errorf("linuxref: echo to %s: %w", target, err)
			}
			if n == size && binary.BigEndian.Uint64(in) == seq {
				st.RTTs = append(st.RTTs, time.Since(start))
				break
			}
			st.Stale++
		}
	}
	return st, nil
}

// Quantile returns the q-quantile (0 <= q <= 1, nearest rank) of ds, or 0
// for an empty slice. ds is not modified.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q = min(max(q, 0), 1)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
