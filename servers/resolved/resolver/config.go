package resolver

import (
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Clock is the engine's only source of time; Now must not go backwards.
type Clock interface {
	Now() time.Time
}

// SystemClock is time.Now.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// Defaults and bounds of Config.
const (
	DefaultTimeout         = 2 * time.Second // per try; Go's own resolver waits 5 s per try
	DefaultAttempts        = 2               // rounds over the servers
	DefaultCacheEntries    = 1024
	DefaultCacheBytes      = 1 << 20
	DefaultMaxTTL          = 24 * time.Hour
	DefaultMaxNegativeTTL  = time.Hour // RFC 2308 section 5 suggests one to three hours
	DefaultMaxLookups      = 128
	DefaultMaxWaiters      = 32
	DefaultMaxCNAMEs       = 8
	DefaultUDPSize         = 1232 // EDNS0 payload size advertised (DNS flag day 2020)
	MaxServers             = 8
	MaxAttempts            = 5
	MaxCacheEntryBytes     = 16 << 10 // a larger answer is passed on, not cached
	liveAttemptsPerLookup  = 3        // sockets kept open per lookup for late answers
	defaultNegativeDivisor = 4        // negative entries: a quarter of the cache
)

// Config configures an Engine. Zero fields take the defaults above.
type Config struct {
	// Servers are the upstream recursive servers, tried in turn starting
	// from the one that answered last (1..MaxServers).
	Servers []netip.AddrPort
	// Timeout is how long one try waits for an answer.
	Timeout time.Duration
	// Attempts is how many times each server is tried (1..MaxAttempts): a
	// lookup makes at most Attempts*len(Servers) tries, so with the
	// defaults and one server it fails within 4 s.
	Attempts int
	// CacheEntries, CacheBytes bound the cache; NegativeEntries bounds its
	// negative entries (NXDOMAIN, NODATA) within that (default a quarter).
	CacheEntries, CacheBytes, NegativeEntries int
	// MaxTTL and MaxNegativeTTL cap how long answers are kept.
	MaxTTL, MaxNegativeTTL time.Duration
	// MaxLookups bounds the lookups in flight upstream; MaxWaiters the
	// clients waiting on one. Beyond them queries get SERVFAIL.
	MaxLookups, MaxWaiters int
	// MaxCNAMEs bounds a CNAME chain.
	MaxCNAMEs int
	// UDPSize is the EDNS0 payload size advertised to servers; 0 for the
	// default, and answers to clients are at most this large over UDP.
	UDPSize uint16
	// No0x20 turns off the mixed-case names (for a server that does not
	// echo the question's case).
	No0x20 bool
	// Rand gives random bits for IDs and case; default a ChaCha8
	// generator seeded from crypto/rand.
	Rand func() uint64
}

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("resolver: bad config")

func (c Config) withDefaults() (Config, error) {
	if len(c.Servers) == 0 || len(c.Servers) > MaxServers {
		return c, ErrConfig
	}
	for _, s := range c.Servers {
		if !s.IsValid() || s.Port() == 0 {
			return c, ErrConfig
		}
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Attempts, DefaultAttempts)
	if c.Attempts > MaxAttempts {
		return c, ErrConfig
	}
	def(&c.CacheEntries, DefaultCacheEntries)
	def(&c.CacheBytes, DefaultCacheBytes)
	def(&c.NegativeEntries, max(1, c.CacheEntries/defaultNegativeDivisor))
	def(&c.MaxLookups, DefaultMaxLookups)
	def(&c.MaxWaiters, DefaultMaxWaiters)
	def(&c.MaxCNAMEs, DefaultMaxCNAMEs)
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.MaxNegativeTTL <= 0 {
		c.MaxNegativeTTL = DefaultMaxNegativeTTL
	}
	if c.UDPSize == 0 {
		c.UDPSize = DefaultUDPSize
	}
	c.UDPSize = max(c.UDPSize, 512)
	if c.Rand == nil {
		var seed [32]byte
		crand.Read(seed[:]) // never fails (Go 1.24+)
		c.Rand = rand.New(rand.NewChaCha8(seed)).Uint64
	}
	return c, nil
}
