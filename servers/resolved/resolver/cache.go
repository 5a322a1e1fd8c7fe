package resolver

import (
	"time"

	"armos/servers/resolved/dns"
)

// typeNXDOMAIN keys a name's NXDOMAIN entry: type 0 is reserved (RFC 6895),
// so no record has it, and NXDOMAIN says the name has no records of any
// type.
const typeNXDOMAIN dns.Type = 0

// cacheKey is a name in lower case (wire form) and a type.
type cacheKey struct {
	name string
	typ  dns.Type
}

func keyOf(n dns.Name, t dns.Type) cacheKey { return cacheKey{n.Lower().Wire(), t} }

// entry is one cached answer: an RRset (positive) or the absence of one
// (negative: NODATA for (name, type), NXDOMAIN for (name, typeNXDOMAIN)),
// with the SOA that came with it, if any.
type entry struct {
	key      cacheKey
	rrs      []dns.RR // TTLs as stored; the remaining TTL is computed from expires
	soa      []dns.RR // negative entries: the zone's SOA (at most one)
	negative bool
	expires  time.Time
	size     int
	used     uint64 // cache.seq when last stored or found
	prev     *entry // LRU list, most recently used first
	next     *entry
}

// entryOverhead approximates an entry's bookkeeping (map slot, struct,
// slice headers) for the byte bound.
const entryOverhead = 160

func (e *entry) computeSize() {
	e.size = entryOverhead + len(e.key.name)
	for _, rrs := range [2][]dns.RR{e.rrs, e.soa} {
		for _, rr := range rrs {
			e.size += 48 + rr.Name.Len() + len(rr.Data)
		}
	}
}

// ttl returns the whole seconds left before e expires (0 when less than a
// second is left).
func (e *entry) ttl(now time.Time) uint32 {
	return uint32(e.expires.Sub(now) / time.Second)
}

// records returns e's records with their TTLs set to what is left.
func (e *entry) records(rrs []dns.RR, now time.Time) []dns.RR {
	out := make([]dns.RR, len(rrs))
	ttl := e.ttl(now)
	for i, rr := range rrs {
		rr.TTL = ttl
		out[i] = rr
	}
	return out
}

// lru is a doubly linked list of entries, most recently used at head.
type lru struct {
	head, tail *entry
	n          int
}

func (l *lru) pushFront(e *entry) {
	e.prev, e.next = nil, l.head
	if l.head != nil {
		l.head.prev = e
	} else {
		l.tail = e
	}
	l.head = e
	l.n++
}

func (l *lru) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
	l.n--
}

// CacheCounters counts the cache's events; Entries, Negative and Bytes are
// its current size.
type CacheCounters struct {
	Hits            uint64 // lookups of a (name, type) that found an entry
	Misses          uint64 // lookups that found none (or an expired one)
	Inserts         uint64 // entries stored
	Replaced        uint64 // of those, replacing a live entry for the same key
	Expired         uint64 // entries found expired and removed
	Evicted         uint64 // entries removed to make room (least recently used)
	EvictedNegative uint64 // of those, negative entries over NegativeEntries
	TooBig          uint64 // answers not cached: over MaxCacheEntryBytes
	Entries         uint64 // entries now held
	Negative        uint64 // of those, negative
	Bytes           uint64 // their approximate size
}

// cache maps (name, type) to answers with a least-recently-used bound on
// entries, bytes and negative entries. Expired entries are removed when
// met (and are the first evicted in practice, being least recently used).
type cache struct {
	maxEntries, maxBytes, maxNegative int
	m                                 map[cacheKey]*entry
	pos, neg                          lru
	bytes                             int
	c                                 CacheCounters
	seq                               uint64 // orders uses across the two lists
}

func newCache(entries, bytes, negative int) *cache {
	return &cache{maxEntries: entries, maxBytes: bytes, maxNegative: negative, m: make(map[cacheKey]*entry)}
}

func (c *cache) list(e *entry) *lru {
	if e.negative {
		return &c.neg
	}
	return &c.pos
}

// get returns the live entry for k, marking it used, or nil.
func (c *cache) get(k cacheKey, now time.Time) *entry {
	e := c.m[k]
	if e == nil {
		c.c.Misses++
		return nil
	}
	if !now.Before(e.expires) {
		c.drop(e)
		c.c.Expired++
		c.c.Misses++
		return nil
	}
	l := c.list(e)
	l.remove(e)
	l.pushFront(e)
	c.seq++
	e.used = c.seq
	c.c.Hits++
	return e
}

// put stores e (replacing any entry for its key) and evicts until the
// bounds hold again.
func (c *cache) put(e *entry) {
	e.computeSize()
	if e.size > MaxCacheEntryBytes {
		c.c.TooBig++
		return
	}
	if old := c.m[e.key]; old != nil {
		c.drop(old)
		c.c.Replaced++
	}
	c.m[e.key] = e
	c.seq++
	e.used = c.seq
	c.list(e).pushFront(e)
	c.bytes += e.size
	c.c.Inserts++
	for c.neg.n > c.maxNegative {
		c.evict(c.neg.tail)
		c.c.EvictedNegative++
	}
	for len(c.m) > c.maxEntries || c.bytes > c.maxBytes {
		// The least recently used entry: the older of the two tails.
		victim := c.pos.tail
		if victim == nil || (c.neg.tail != nil && c.neg.tail.used < victim.used) {
			victim = c.neg.tail
		}
		c.evict(victim)
	}
	c.gauges()
}

func (c *cache) evict(e *entry) {
	c.drop(e)
	c.c.Evicted++
}

func (c *cache) drop(e *entry) {
	c.list(e).remove(e)
	delete(c.m, e.key)
	c.bytes -= e.size
	c.gauges()
}

func (c *cache) gauges() {
	c.c.Entries = uint64(len(c.m))
	c.c.Negative = uint64(c.neg.n)
	c.c.Bytes = uint64(c.bytes)
}

// flush empties the cache.
func (c *cache) flush() {
	for _, e := range c.m {
		c.list(e).remove(e)
	}
	clear(c.m)
	c.bytes = 0
	c.gauges()
}
