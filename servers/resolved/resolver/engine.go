package resolver

import (
	"errors"
	"net/netip"
	"time"

	"armos/servers/resolved/dns"
)

// Why a lookup failed (Result.Err); clients see SERVFAIL for all of them.
var (
	ErrTimeout       = errors.New("resolver: no server answered")
	ErrServerFailure = errors.New("resolver: every server failed")
	// ErrTruncated: a server's answer did not fit in UDP (TC set) and
	// could not be had over TCP (the transport has no TCP, or the TCP
	// answer was truncated too).
	ErrTruncated    = errors.New("resolver: answer truncated (TC) and none over TCP")
	ErrCNAMELoop    = errors.New("resolver: CNAME loop")
	ErrCNAMEChain   = errors.New("resolver: CNAME chain too long")
	ErrSend         = errors.New("resolver: cannot send queries")
	ErrOverloaded   = errors.New("resolver: too many lookups in flight")
	ErrNotSupported = errors.New("resolver: query type or class not supported")
)

// Attempt identifies one try of a lookup: one query to one server. The
// transport passes it back to Input with the datagrams it receives on that
// try's socket, or passes 0 if it has one socket for every try (the engine
// then finds the try by the answer's ID).
type Attempt uint64

// Upstream carries the engine's queries. Both methods are called from the
// engine's goroutine and must not call back into the engine.
type Upstream interface {
	// Send sends a query for attempt a to server. A transport that can
	// should use a socket of its own, on a random port, per attempt, and
	// hand what arrives on it to Engine.Input(a, ...).
	Send(a Attempt, server netip.AddrPort, query []byte) error
	// Done says attempt a is over: its socket can be closed.
	Done(a Attempt)
}

// StreamUpstream is an Upstream that can also ask over TCP (RFC 7766).
// When an answer arrives truncated (TC), the engine asks the same server
// the same question again with SendStream, and the transport hands the
// answer to Engine.Input(a, server, ...) as for a datagram.
type StreamUpstream interface {
	Upstream
	SendStream(a Attempt, server netip.AddrPort, query []byte) error
}

// Result is the outcome of a lookup.
type Result struct {
	RCode     dns.RCode
	Answer    []dns.RR // the CNAMEs followed, in order, then the records asked for
	Authority []dns.RR // for NXDOMAIN and NODATA, the zone's SOA if the server gave it
	Err       error    // with SERVFAIL or NOTIMP: why
}

// Engine is the resolver. See the package documentation for how it is
// driven; it is not safe for concurrent use.
type Engine struct {
	cfg   Config
	clock Clock
	up    Upstream
	cache *cache

	lookups  map[cacheKey]*lookup // in flight, by the question asked
	attempts map[Attempt]*attempt // live tries
	byID     map[uint16]*attempt  // live tries by the ID they sent
	last     Attempt
	prefer   int // the server that answered last

	c Counters
}

type lookup struct {
	key     cacheKey
	qtype   dns.Type
	name    dns.Name // the name asked now: the question, or the last CNAME's target
	chain   []dns.RR // CNAME records followed so far
	waiters []func(Result)

	tries    int // queries sent for this name
	deadline time.Time
	live     []*attempt // open tries, oldest first
	lastErr  error      // the reason to give if the tries run out
}

type attempt struct {
	id     Attempt
	l      *lookup
	server netip.AddrPort
	txid   uint16
	q      dns.Question // as sent: name in mixed case
	stream bool         // asked over TCP (after a truncated answer)
}

// New returns an Engine sending its queries through up.
func New(cfg Config, clock Clock, up Upstream) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Engine{
		cfg:      cfg,
		clock:    clock,
		up:       up,
		cache:    newCache(cfg.CacheEntries, cfg.CacheBytes, cfg.NegativeEntries),
		lookups:  make(map[cacheKey]*lookup),
		attempts: make(map[Attempt]*attempt),
		byID:     make(map[uint16]*attempt),
	}, nil
}

// SetServers replaces the upstream servers (1..MaxServers, each with a
// port other than 0). The cache stays: its answers came from servers the
// machine trusted, and expire with their TTLs. Lookups in flight go on
// with their next tries at the new servers (answers from the old ones to
// tries already sent are still taken).
func (e *Engine) SetServers(servers []netip.AddrPort) error {
	if len(servers) == 0 || len(servers) > MaxServers {
		return ErrConfig
	}
	for _, s := range servers {
		if !s.IsValid() || s.Port() == 0 {
			return ErrConfig
		}
	}
	e.cfg.Servers = append([]netip.AddrPort(nil), servers...)
	e.prefer = 0
	return nil
}

// Servers returns the upstream servers in use.
func (e *Engine) Servers() []netip.AddrPort {
	return append([]netip.AddrPort(nil), e.cfg.Servers...)
}

// Counters returns a snapshot of the counters.
func (e *Engine) Counters() Counters {
	c := e.c
	c.Cache = e.cache.c
	return c
}

// Flush empties the cache.
func (e *Engine) Flush() { e.cache.flush() }

// InFlight returns the number of lookups waiting for upstream servers.
func (e *Engine) InFlight() int { return len(e.lookups) }

// supported reports whether the engine resolves questions of type t and
// class c: class IN, and data types (not OPT, nor the query-only types
// 128-255: AXFR, ANY, ...).
func supported(t dns.Type, c dns.Class) bool {
	return c == dns.ClassINET && t != dns.TypeOPT && t != typeNXDOMAIN && (t < 128 || t > 255)
}

// Lookup resolves (name, t) in class IN, following CNAMEs. done is called
// exactly once with the result: before Lookup returns when the cache
// answers or the lookup cannot start, else from a later Input or Tick.
func (e *Engine) Lookup(name dns.Name, t dns.Type, done func(Result)) {
	e.c.Lookups.Started++
	if !supported(t, dns.ClassINET) || name.IsZero() {
		e.c.Lookups.NotImplemented++
		done(Result{RCode: dns.RCodeNotImplemented, Err: ErrNotSupported})
		return
	}
	now := e.clock.Now()
	next, chain, res, ok := e.fromCache(name, t, nil, now)
	if ok {
		e.c.Lookups.FromCache++
		done(res)
		return
	}
	k := keyOf(name, t)
	if l := e.lookups[k]; l != nil {
		if len(l.waiters) >= e.cfg.MaxWaiters {
			e.c.Lookups.Overloaded++
			done(servFail(ErrOverloaded))
			return
		}
		e.c.Lookups.Joined++
		l.waiters = append(l.waiters, done)
		return
	}
	if len(e.lookups) >= e.cfg.MaxLookups {
		e.c.Lookups.Overloaded++
		done(servFail(ErrOverloaded))
		return
	}
	e.c.Lookups.Upstream++
	l := &lookup{key: k, qtype: t, name: next, chain: chain, waiters: []func(Result){done}}
	e.lookups[k] = l
	e.try(l, now)
}

func servFail(err error) Result { return Result{RCode: dns.RCodeServerFailure, Err: err} }

// fromCache answers (name, t) from the cache as far as it can, following
// cached CNAMEs (appended to chain). ok is true with the final result;
// otherwise next is the name to ask servers about.
func (e *Engine) fromCache(name dns.Name, t dns.Type, chain []dns.RR, now time.Time) (next dns.Name, _ []dns.RR, res Result, ok bool) {
	for {
		if en := e.cache.get(keyOf(name, t), now); en != nil {
			return name, chain, e.cachedResult(en, chain, now), true
		}
		if en := e.cache.get(keyOf(name, typeNXDOMAIN), now); en != nil {
			return name, chain, e.cachedResult(en, chain, now), true
		}
		if t == dns.TypeCNAME {
			return name, chain, Result{}, false
		}
		en := e.cache.get(keyOf(name, dns.TypeCNAME), now)
		if en == nil {
			return name, chain, Result{}, false
		}
		cn := en.records(en.rrs, now)[0]
		target, _ := cn.CNAME()
		chain = append(chain, cn)
		if err := e.checkChain(chain, target); err != nil {
			return name, chain, servFail(err), true
		}
		name = target
	}
}

func (e *Engine) cachedResult(en *entry, chain []dns.RR, now time.Time) Result {
	if !en.negative {
		return Result{RCode: dns.RCodeSuccess, Answer: append(chain, en.records(en.rrs, now)...)}
	}
	rc := dns.RCodeSuccess
	if en.key.typ == typeNXDOMAIN {
		rc = dns.RCodeNameError
	}
	return Result{RCode: rc, Answer: chain, Authority: en.records(en.soa, now)}
}

// checkChain returns an error if following a CNAME to target would loop or
// make the chain too long.
func (e *Engine) checkChain(chain []dns.RR, target dns.Name) error {
	if len(chain) > e.cfg.MaxCNAMEs {
		return ErrCNAMEChain
	}
	for _, rr := range chain {
		if rr.Name.EqualFold(target) {
			return ErrCNAMELoop
		}
	}
	return nil
}

// try sends the next query of l, or ends l when its tries are used up.
func (e *Engine) try(l *lookup, now time.Time) {
	n := len(e.cfg.Servers)
	if l.tries >= e.cfg.Attempts*n {
		if len(l.live) == 0 || !now.Before(l.deadline) {
			e.fail(l)
		}
		return // the last tries may still answer before the deadline
	}
	idx := (e.prefer + l.tries) % n
	l.tries++
	e.ask(l, e.cfg.Servers[idx], false, now)
}

// ask sends one try of l to server, over TCP if stream.
func (e *Engine) ask(l *lookup, server netip.AddrPort, stream bool, now time.Time) {
	l.deadline = now.Add(e.cfg.Timeout)
	a := &attempt{l: l, server: server, txid: e.newID(), stream: stream}
	e.last++
	a.id = e.last
	a.q = dns.Question{Name: l.name, Type: l.qtype, Class: dns.ClassINET}
	if !e.cfg.No0x20 {
		a.q.Name = l.name.MixCase(e.cfg.Rand)
	}
	q := dns.Message{ID: a.txid, Flags: dns.FlagRD, Questions: []dns.Question{a.q},
		Additionals: []dns.RR{dns.NewOPT(e.cfg.UDPSize)}}
	b, err := q.Pack()
	if err == nil {
		e.attempts[a.id] = a
		e.byID[a.txid] = a
		l.live = append(l.live, a)
		if len(l.live) > liveAttemptsPerLookup {
			e.retire(l.live[0])
			l.live = l.live[1:]
		}
		e.c.Upstream.Tries++
		if stream {
			e.c.Upstream.TCPTries++
			err = e.up.(StreamUpstream).SendStream(a.id, a.server, b)
		} else {
			err = e.up.Send(a.id, a.server, b)
		}
	}
	if err != nil {
		e.c.Upstream.SendErrors++
		if i := len(l.live) - 1; i >= 0 && l.live[i] == a {
			l.live = l.live[:i]
			e.retire(a)
		}
		if l.lastErr == nil {
			l.lastErr = ErrSend
		}
		l.deadline = now // next try at the next Tick
	}
}

// newID returns a random ID that no live try uses.
func (e *Engine) newID() uint16 {
	for {
		id := uint16(e.cfg.Rand())
		if e.byID[id] == nil {
			return id
		}
	}
}

func (e *Engine) retire(a *attempt) {
	delete(e.attempts, a.id)
	if e.byID[a.txid] == a {
		delete(e.byID, a.txid)
	}
	e.up.Done(a.id)
}

// NextDeadline returns when Tick is next needed (ok false: no lookup waits).
func (e *Engine) NextDeadline() (t time.Time, ok bool) {
	for _, l := range e.lookups {
		if !ok || l.deadline.Before(t) {
			t, ok = l.deadline, true
		}
	}
	return t, ok
}

// Tick moves on every lookup whose try has timed out: the next try, or
// SERVFAIL when there is none. Calling it early is harmless.
func (e *Engine) Tick() {
	now := e.clock.Now()
	var due []*lookup
	for _, l := range e.lookups {
		if !now.Before(l.deadline) {
			due = append(due, l)
		}
	}
	for _, l := range due {
		if e.lookups[l.key] != l {
			continue
		}
		if len(l.live) > 0 {
			e.c.Upstream.Timeouts++
			if l.lastErr == nil || l.lastErr == ErrSend {
				l.lastErr = ErrTimeout
			}
		}
		e.try(l, now)
	}
}

// fail ends l with SERVFAIL for its last error.
func (e *Engine) fail(l *lookup) {
	err := l.lastErr
	switch err {
	case nil, ErrTimeout:
		err = ErrTimeout
		e.c.Lookups.FailedTimeout++
	case ErrSend:
		e.c.Lookups.FailedSend++
	default:
		e.c.Lookups.FailedServer++
	}
	e.finish(l, servFail(err))
}

// finish ends l: closes its tries and gives res to its waiters.
func (e *Engine) finish(l *lookup, res Result) {
	delete(e.lookups, l.key)
	for _, a := range l.live {
		e.retire(a)
	}
	l.live = nil
	for i, w := range l.waiters {
		r := res
		if i > 0 { // each waiter owns its slices
			r.Answer = append([]dns.RR(nil), res.Answer...)
			r.Authority = append([]dns.RR(nil), res.Authority...)
		}
		w(r)
	}
}

// Input takes a datagram that arrived from `from` on attempt a's socket (a
// is 0 if the transport shares one socket between tries). It is dropped,
// and counted, unless it answers a live try exactly: from the server asked,
// with the ID sent, QR set, opcode QUERY and the question as sent, case
// included.
func (e *Engine) Input(a Attempt, from netip.AddrPort, msg []byte) {
	e.c.Upstream.RxDatagrams++
	m, err := dns.Parse(msg)
	if err != nil {
		e.c.Upstream.RxMalformed++
		return
	}
	var at *attempt
	if a != 0 {
		if at = e.attempts[a]; at == nil {
			e.c.Upstream.RxUnknown++
			return
		}
		if m.ID != at.txid {
			e.c.Upstream.RxWrongID++
			return
		}
	} else if at = e.byID[m.ID]; at == nil {
		e.c.Upstream.RxWrongID++
		return
	}
	if !e.matches(at, from, m) {
		return
	}
	e.c.Upstream.Accepted++
	e.answer(at, m)
}

// matches reports whether m, from `from`, answers try at, counting the
// reason if not.
func (e *Engine) matches(at *attempt, from netip.AddrPort, m *dns.Message) bool {
	u := &e.c.Upstream
	unmap := func(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }
	switch {
	case unmap(from) != unmap(at.server):
		u.RxWrongSource++
	case !m.Flags.Has(dns.FlagQR):
		u.RxNotResponse++
	case m.Flags.Opcode() != dns.OpcodeQuery:
		u.RxBadOpcode++
	case len(m.Questions) != 1 || m.Questions[0].Type != at.q.Type || m.Questions[0].Class != at.q.Class ||
		!m.Questions[0].Name.EqualFold(at.q.Name):
		u.RxWrongQuestion++
	case m.Questions[0].Name != at.q.Name:
		u.RxCaseMismatch++
	default:
		return true
	}
	return false
}

// answer handles an accepted answer to try at.
func (e *Engine) answer(at *attempt, m *dns.Message) {
	l := at.l
	now := e.clock.Now()
	if m.Flags.Has(dns.FlagTC) {
		e.c.Upstream.Truncated++
		if _, ok := e.up.(StreamUpstream); ok && !at.stream {
			// Ask the same server over TCP; the other tries of this
			// lookup are over (the server has answered).
			for _, x := range l.live {
				e.retire(x)
			}
			l.live = l.live[:0]
			e.ask(l, at.server, true, now)
			return
		}
		e.c.Lookups.FailedTruncated++
		e.finish(l, servFail(ErrTruncated))
		return
	}
	switch rc := m.Flags.RCode(); rc {
	case dns.RCodeSuccess, dns.RCodeNameError:
	default:
		switch rc {
		case dns.RCodeServerFailure:
			e.c.Upstream.ServFail++
		case dns.RCodeRefused:
			e.c.Upstream.Refused++
		default:
			e.c.Upstream.OtherRCode++
		}
		// This server failed: close its try and ask the next one now.
		for i, x := range l.live {
			if x == at {
				l.live = append(l.live[:i], l.live[i+1:]...)
				break
			}
		}
		e.retire(at)
		l.lastErr = ErrServerFailure
		if l.tries < e.cfg.Attempts*len(e.cfg.Servers) || len(l.live) == 0 {
			e.try(l, now) // else the other servers' tries may still answer
		}
		return
	}
	for i, s := range e.cfg.Servers {
		if s == at.server {
			e.prefer = i
		}
	}
	e.follow(l, m, now)
}

// follow takes what an answer says about l.name: the CNAMEs from it on and
// the records at the chain's end, or that there are none. Only records on
// that chain are used and cached.
func (e *Engine) follow(l *lookup, m *dns.Message, now time.Time) {
	name := l.name
	used := 0
	for {
		var rrs []dns.RR
		var cname *dns.RR
		for i := range m.Answers {
			rr := &m.Answers[i]
			if rr.Class != dns.ClassINET || !rr.Name.EqualFold(name) {
				continue
			}
			switch {
			case rr.Type == l.qtype:
				rrs = append(rrs, *rr)
			case rr.Type == dns.TypeCNAME && cname == nil:
				cname = rr
			}
		}
		if len(rrs) > 0 {
			used += len(rrs)
			e.c.Upstream.IgnoredRecords += uint64(len(m.Answers) - used)
			en := e.store(name, l.qtype, rrs, nil, false, now)
			e.c.Lookups.Resolved++
			e.finish(l, Result{RCode: dns.RCodeSuccess, Answer: append(l.chain, en...)})
			return
		}
		if cname == nil {
			break
		}
		used++
		target, _ := cname.CNAME()
		cn := e.store(name, dns.TypeCNAME, []dns.RR{*cname}, nil, false, now)
		l.chain = append(l.chain, cn...)
		if err := e.checkChain(l.chain, target); err != nil {
			e.c.Lookups.FailedCNAME++
			e.finish(l, servFail(err))
			return
		}
		name = target
	}
	e.c.Upstream.IgnoredRecords += uint64(len(m.Answers) - used)

	// No records for name. A negative answer is cached with its SOA's
	// TTL (RFC 2308 section 5); one without an SOA is passed on only.
	var soa []dns.RR
	for _, rr := range m.Authorities {
		if rr.Type == dns.TypeSOA && rr.Class == dns.ClassINET && isSubdomain(name, rr.Name) {
			soa = []dns.RR{rr}
			break
		}
	}
	rc := m.Flags.RCode()
	if rc == dns.RCodeSuccess && soa == nil && !name.EqualFold(l.name) {
		// The server followed a CNAME to a name it says nothing about (as
		// one that is not recursive for the target's zone does): ask about
		// the target (RFC 1034 section 5.3.3), from the cache if it can.
		e.c.Lookups.Requeried++
		e.requery(l, name, now)
		return
	}
	typ := l.qtype
	if rc == dns.RCodeNameError {
		typ = typeNXDOMAIN
	}
	var auth []dns.RR
	if soa != nil {
		auth = e.store(name, typ, nil, soa, true, now)
	}
	e.c.Lookups.Negative++
	e.finish(l, Result{RCode: rc, Answer: l.chain, Authority: auth})
}

// requery moves l on to name: from the cache if it knows, else with a new
// round of tries.
func (e *Engine) requery(l *lookup, name dns.Name, now time.Time) {
	next, chain, res, ok := e.fromCache(name, l.qtype, l.chain, now)
	l.chain = chain
	if ok {
		e.finish(l, res)
		return
	}
	for _, a := range l.live {
		e.retire(a)
	}
	l.live, l.tries, l.lastErr, l.name = nil, 0, nil, next
	e.try(l, now)
}

// store caches an RRset (or, negative, the absence of one with its SOA)
// under (name, t) and returns the records as answered: owner names in
// lower case, one TTL for the set (the smallest; RFC 2181 section 5.2),
// capped by MaxTTL, or for a negative entry the SOA's TTL capped by its
// MINIMUM field and MaxNegativeTTL. A TTL of zero is answered, not cached.
func (e *Engine) store(name dns.Name, t dns.Type, rrs, soa []dns.RR, negative bool, now time.Time) []dns.RR {
	limit := e.cfg.MaxTTL
	src := rrs
	if negative {
		limit, src = e.cfg.MaxNegativeTTL, soa
	}
	ttl := uint32(limit / time.Second)
	for _, rr := range src {
		ttl = min(ttl, clampTTL(rr.TTL))
		if s, ok := rr.SOA(); ok && negative {
			ttl = min(ttl, clampTTL(s.Minimum))
		}
	}
	out := make([]dns.RR, len(src))
	for i, rr := range src {
		rr.Name = rr.Name.Lower()
		rr.TTL = ttl
		out[i] = rr
	}
	if ttl > 0 {
		en := &entry{key: keyOf(name, t), negative: negative, expires: now.Add(time.Duration(ttl) * time.Second)}
		if negative {
			en.soa = out
		} else {
			en.rrs = out
		}
		e.cache.put(en)
	}
	return append([]dns.RR(nil), out...)
}

// clampTTL reads a TTL as RFC 2181 section 8 says: values with the top bit
// set are 0.
func clampTTL(v uint32) uint32 {
	if v > 1<<31-1 {
		return 0
	}
	return v
}

// isSubdomain reports whether n is zone or below it.
func isSubdomain(n, zone dns.Name) bool {
	nw, zw := n.Wire(), zone.Wire()
	if len(zw) > len(nw) {
		return false
	}
	// zone must be a suffix of n that starts at a label boundary.
	for i := 0; i < len(nw); i += 1 + int(nw[i]) {
		if len(nw)-i == len(zw) {
			m, _ := dns.NameFromWire([]byte(nw[i:]))
			return m.EqualFold(zone)
		}
		if nw[i] == 0 {
			break
		}
	}
	return false
}
