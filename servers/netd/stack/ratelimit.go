package stack

import (
	"net/netip"
	"time"
)

// tokenBucket is a rate limiter: up to burst events at once, refilled at one
// token per interval. It reads time only from the values it is given.
type tokenBucket struct {
	burst    int
	interval time.Duration
	tokens   int
	last     time.Time // time up to which refills have been credited
	started  bool
}

func newTokenBucket(burst, perSecond int) tokenBucket {
	return tokenBucket{burst: burst, interval: time.Second / time.Duration(perSecond)}
}

func (b *tokenBucket) refill(now time.Time) {
	if !b.started {
		b.started, b.tokens, b.last = true, b.burst, now
		return
	}
	if !now.After(b.last) {
		return
	}
	n := now.Sub(b.last) / b.interval
	if n <= 0 {
		return
	}
	if b.tokens+int(min(n, time.Duration(b.burst))) >= b.burst {
		b.tokens, b.last = b.burst, now
		return
	}
	b.tokens += int(n)
	b.last = b.last.Add(n * b.interval)
}

// take consumes a token if one is available.
func (b *tokenBucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens == 0 {
		return false
	}
	b.tokens--
	return true
}

// nextToken returns when the next token becomes available.
func (b *tokenBucket) nextToken(now time.Time) time.Time {
	b.refill(now)
	if b.tokens > 0 {
		return now
	}
	return b.last.Add(b.interval)
}

// peerLimiter rate-limits per destination address with a token bucket for
// each of the last ICMPPeerTable destinations; a new destination takes the
// least recently used slot (and starts with a full burst, as a forgotten
// Linux inet_peer does).
type peerLimiter struct {
	slots [ICMPPeerTable]peerSlot
}

type peerSlot struct {
	addr netip.Addr
	tb   tokenBucket
	used time.Time
}

// allow reports whether one more message to addr is within its limit.
func (p *peerLimiter) allow(addr netip.Addr, now time.Time) bool {
	victim := 0
	for i := range p.slots {
		sl := &p.slots[i]
		if sl.addr == addr {
			sl.used = now
			return sl.tb.take(now)
		}
		if !sl.addr.IsValid() || (p.slots[victim].addr.IsValid() && sl.used.Before(p.slots[victim].used)) {
			victim = i
		}
	}
	p.slots[victim] = peerSlot{addr: addr, tb: newTokenBucket(ICMPPeerBurst, ICMPPeerPerSecond), used: now}
	return p.slots[victim].tb.take(now)
}
