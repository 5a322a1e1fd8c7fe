package linuxref

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
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

// WindowStats are the results of an echo run with several datagrams in
// flight (EchoWindow).
type WindowStats struct {
	RTTs []time.Duration // one per answered datagram, in the order answered
	Lost int             // datagrams not answered within the wait
	// Stale counts replies for datagrams already answered or given up on,
	// or not ours, which were discarded.
	Stale int
	// Elapsed runs from the first send to the moment the last datagram
	// was answered or given up on.
	Elapsed time.Duration
}

// Rate is the answered datagrams per second over Elapsed.
func (s WindowStats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(len(s.RTTs)) / s.Elapsed.Seconds()
}

// ErrNotLocal is returned for an EchoWindow target that is neither a
// loopback nor a private (RFC 1918, RFC 4193) address: the benchmarks
// only send to slirp's host forward or to a guest on a tap the test set
// up, and a flood must never leave the machine by mistake.
var ErrNotLocal = errors.New("linuxref: echo target must be a loopback or private address")

// EchoWindow sends count UDP datagrams of size bytes to target, keeping
// window of them in flight: a new one is sent as soon as one in flight is
// answered or, unanswered for wait (MaxEchoWait if 0), counted lost. The
// first 8 bytes of each datagram carry its sequence number. With window 1
// it is Echo; with more it measures throughput (WindowStats.Rate) under
// a steady load. Each RTT is from that datagram's send to its answer.
func EchoWindow(target netip.AddrPort, count, size, window int, wait time.Duration) (WindowStats, error) {
	var st WindowStats
	if a := target.Addr(); !a.IsLoopback() && !a.IsPrivate() {
		return st, ErrNotLocal
	}
	if size < 8 || size > 65507 {
		return st, fmt.Errorf("linuxref: echo size %d out of range [8, 65507]", size)
	}
	if count < 1 || window < 1 {
		return st, fmt.Errorf("linuxref: echo count %d and window %d must be positive", count, window)
	}
	if wait <= 0 {
		wait = MaxEchoWait
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return st, err
	}
	defer c.Close()

	w := &echoWindow{count: count, sent: make([]time.Time, count), state: make([]byte, count),
		slots: make(chan struct{}, window), done: make(chan struct{})}
	readErr := make(chan error, 1)
	start := time.Now()
	go func() { readErr <- w.receive(c, size, wait, &st) }()

	out := make([]byte, size)
	for i := range out[8:] {
		out[8+i] = byte(i)
	}
	for seq := 0; seq < count; seq++ {
		select {
		case <-w.done: // the receiver failed
			return st, <-readErr
		default:
		}
		select {
		case w.slots <- struct{}{}:
		case <-w.done: // the receiver failed
			return st, <-readErr
		}
		binary.BigEndian.PutUint64(out, uint64(seq))
		w.mu.Lock()
		w.sent[seq] = time.Now()
		w.state[seq] = inFlight
		w.nsent = seq + 1
		w.mu.Unlock()
		if _, err := c.Write(out); err != nil {
			c.Close()
			<-readErr
			return st, fmt.Errorf("linuxref: echo to %s: %w", target, err)
		}
	}
	if err := <-readErr; err != nil {
		return st, err
	}
	st.Elapsed = w.last.Sub(start)
	return st, nil
}

// Datagram states in an EchoWindow run.
const (
	notSent byte = iota
	inFlight
	retired // answered or lost
)

// echoWindow is EchoWindow's bookkeeping, shared by its sender and receiver.
type echoWindow struct {
	count int
	slots chan struct{} // one token per datagram in flight
	done  chan struct{} // closed when the receiver returns

	mu    sync.Mutex
	sent  []time.Time // when each datagram was sent
	state []byte
	nsent int // datagrams sent so far

	low  int       // every datagram below low is retired (receiver only)
	last time.Time // when the last datagram was retired (receiver only)
}

// receive reads answers until every datagram is retired, giving up on
// the oldest one in flight when it has waited wait.
func (w *echoWindow) receive(c *net.UDPConn, size int, wait time.Duration, st *WindowStats) error {
	defer close(w.done)
	in := make([]byte, size+1)
	retire := func(seq int, now time.Time) { // with w.mu held
		w.state[seq] = retired
		w.last = now
		<-w.slots
		for w.low < w.count && w.state[w.low] == retired {
			w.low++
		}
	}
	for w.low < w.count {
		w.mu.Lock()
		deadline := time.Now().Add(wait)
		if w.low < w.nsent {
			deadline = w.sent[w.low].Add(wait)
		}
		w.mu.Unlock()
		if err := c.SetReadDeadline(deadline); err != nil {
			return err
		}
		n, err := c.Read(in)
		now := time.Now()
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return fmt.Errorf("linuxref: echo from %s: %w", c.RemoteAddr(), err)
			}
			w.mu.Lock()
			for w.low < w.nsent && w.state[w.low] == inFlight && !now.Before(w.sent[w.low].Add(wait)) {
				st.Lost++
				retire(w.low, now)
			}
			w.mu.Unlock()
			continue
		}
		seq := binary.BigEndian.Uint64(in)
		w.mu.Lock()
		if n != size || seq >= uint64(w.count) || w.state[seq] != inFlight {
			st.Stale++
		} else {
			st.RTTs = append(st.RTTs, now.Sub(w.sent[seq]))
			retire(int(seq), now)
		}
		w.mu.Unlock()
	}
	return nil
}
