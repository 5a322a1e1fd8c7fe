package stack

import (
	"net/netip"
	"time"

	"armos/servers/netd/wire"
)

// IPv4 reassembly (RFC 791 section 3.2, RFC 815 for the bookkeeping), with
// Linux's policies since 4.19: a fragment wholly inside data already received
// is a duplicate and ignored; any other overlap discards the whole datagram
// (the defence against overlapping-fragment attacks); incomplete datagrams
// are dropped after ReasmTimeout; memory is bounded by ReasmMaxBytes and the
// number of datagrams by ReasmMaxDatagrams.
//
// Memory is charged for what arrived: each fragment's bytes (kept as they
// came, a chain per datagram, put together only when complete) plus
// reasmFragOverhead for its bookkeeping, so an 8-byte fragment at offset
// 64,000 costs 8 + 128 bytes, not 64 KB. When a bound is reached, room is
// made by dropping the oldest incomplete datagram of the source that holds
// the most (by bytes; by datagrams for the datagram bound) — unless that is
// the arriving fragment's own source, whose fragment is then refused. One
// peer flooding bogus fragments thus only ever crowds out itself: another
// peer's datagram still completes (TestReassemblyFloodCannotStarveOthers).

// maxIPv4Len is the largest IPv4 datagram, header included.
const maxIPv4Len = 65535

// reasmKey identifies the fragments of one datagram (RFC 791: source,
// destination, protocol and identification).
type reasmKey struct {
	src, dst netip.Addr
	id       uint16
	proto    uint8
}

// span is a received byte range [start, end) of a datagram's payload.
type span struct{ start, end int }

// reassembly collects one datagram's fragments.
type reassembly struct {
	key      reasmKey
	deadline time.Time
	// pieces are the fragments' payloads as received; data is the
	// payload put together once complete.
	pieces []piece
	data   []byte
	// charge is what the reassembly counts against ReasmMaxBytes.
	charge int
	// have lists the received ranges, sorted and merged.
	have []span
	// total is the payload length, known once the last fragment (MF=0)
	// arrives; -1 until then.
	total int
	// header is the IPv4 header of the first fragment (offset 0), kept to
	// rebuild the datagram and to quote in a time-exceeded error.
	header    [60]byte
	headerLen int
	// frags counts the fragments held.
	frags int
}

// piece is one fragment's payload at its offset.
type piece struct {
	start int
	data  []byte
}

// reasmFragOverhead is what one held fragment costs beyond its bytes.
const reasmFragOverhead = 128

// fragment is a parsed fragment as the reassembler needs it.
type fragment struct {
	key     reasmKey
	offset  int  // payload offset in bytes
	more    bool // MF flag
	header  []byte
	payload []byte
}

// reasmResult is what adding a fragment did.
type reasmResult uint8

const (
	reasmHeld         reasmResult = iota // fragment stored, datagram incomplete
	reasmComplete                        // datagram complete: see the returned reassembly
	reasmDuplicate                       // fragment ignored: already received
	reasmOverlap                         // datagram discarded: overlapping fragment
	reasmTooBig                          // datagram discarded: past 65535 bytes
	reasmInconsistent                    // datagram discarded: conflicting ends
	reasmBadFragment                     // fragment ignored: empty (after trimming)
	reasmNoMemory                        // fragment refused: memory or datagram bound
)

// reassembler holds the datagrams being reassembled.
type reassembler struct {
	list []*reassembly // ≤ ReasmMaxDatagrams, oldest first
	mem  int           // bytes charged (sum of charge)
	// evicted counts the incomplete datagrams dropped to make room and
	// the fragments they held.
	evicted, evictedFrags int
}

// index returns d's position in the list (it is there).
func (r *reassembler) index(d *reassembly) int {
	for i, x := range r.list {
		if x == d {
			return i
		}
	}
	return -1
}

func (r *reassembler) find(k reasmKey) (int, *reassembly) {
	for i, d := range r.list {
		if d.key == k {
			return i, d
		}
	}
	return -1, nil
}

// drop removes the reassembly at index i and returns how many fragments it
// held.
func (r *reassembler) drop(i int) int {
	d := r.list[i]
	r.mem -= d.charge
	r.list = append(r.list[:i], r.list[i+1:]...)
	return d.frags
}

// makeRoom drops the oldest incomplete datagram of the source holding the
// most (bytes, or datagrams when byDatagrams), other than keep, and
// reports whether it did; it does not when that source is src (the
// arriving fragment's: it is the one to refuse) or nothing can go.
func (r *reassembler) makeRoom(src netip.Addr, keep *reassembly, byDatagrams bool) bool {
	var heavy netip.Addr
	best := -1
	load := map[netip.Addr]int{}
	for _, d := range r.list {
		w := d.charge
		if byDatagrams {
			w = 1
		}
		load[d.key.src] += w
	}
	for a, w := range load {
		if w > best || w == best && a == src {
			heavy, best = a, w
		}
	}
	if best < 0 || heavy == src {
		return false
	}
	for i, d := range r.list { // oldest first
		if d.key.src == heavy && d != keep {
			r.evicted++
			r.evictedFrags += r.drop(i)
			return true
		}
	}
	return false
}

// add stores f. On reasmComplete it returns the completed reassembly (already
// removed from the table); its header and data[:total] form the datagram.
// held is the number of fragments discarded along with a datagram on
// reasmOverlap, reasmTooBig and reasmInconsistent.
func (r *reassembler) add(f *fragment, now time.Time) (res reasmResult, done *reassembly, held int) {
	start := f.offset
	end := start + len(f.payload)
	if f.more {
		// Every fragment but the last carries a multiple of 8 bytes;
		// like Linux, trim a non-conforming one.
		end &^= 7
	}
	if end <= start {
		return reasmBadFragment, nil, 0 // empty (after trimming)
	}
	i, d := r.find(f.key)
	// Too big whatever header the first fragment brings: refuse now. The
	// exact bound (the first fragment's header, which the datagram is
	// rebuilt with, plus the total) is checked once complete, as Linux's
	// ip_frag_reasm does: the first fragment may come last.
	if wire.IPv4MinHeaderLen+end > maxIPv4Len {
		if d != nil {
			held = r.drop(i)
		}
		return reasmTooBig, nil, held
	}
	if d == nil {
		for len(r.list) >= ReasmMaxDatagrams {
			if !r.makeRoom(f.key.src, nil, true) {
				return reasmNoMemory, nil, 0
			}
		}
		d = &reassembly{key: f.key, deadline: now.Add(ReasmTimeout), total: -1}
		r.list = append(r.list, d)
		i = len(r.list) - 1
	}
	// Ends must agree: one last fragment, nothing beyond it.
	if !f.more {
		if (d.total >= 0 && d.total != end) || d.highest() > end {
			return reasmInconsistent, nil, r.drop(i)
		}
	} else if d.total >= 0 && end > d.total {
		return reasmInconsistent, nil, r.drop(i)
	}
	// Duplicate or overlap?
	for _, s := range d.have {
		if start >= s.start && end <= s.end {
			return reasmDuplicate, nil, 0
		}
		if start < s.end && end > s.start {
			return reasmOverlap, nil, r.drop(i)
		}
	}
	cost := end - start + reasmFragOverhead
	for r.mem+cost > ReasmMaxBytes {
		if !r.makeRoom(f.key.src, d, false) {
			if d.frags == 0 {
				r.drop(r.index(d))
			}
			return reasmNoMemory, nil, 0
		}
	}
	d.pieces = append(d.pieces, piece{start, append([]byte(nil), f.payload[:end-start]...)})
	d.charge += cost
	r.mem += cost
	d.insertSpan(span{start, end})
	d.frags++
	if !f.more {
		d.total = end
	}
	if start == 0 {
		d.headerLen = copy(d.header[:], f.header)
	}
	if d.total >= 0 && len(d.have) == 1 && d.have[0] == (span{0, d.total}) {
		held := r.drop(r.index(d))
		if d.headerLen+d.total > maxIPv4Len {
			return reasmTooBig, nil, held
		}
		d.data = make([]byte, d.total)
		for _, p := range d.pieces {
			copy(d.data[p.start:], p.data)
		}
		d.pieces = nil
		return reasmComplete, d, 0
	}
	return reasmHeld, nil, 0
}

// prefix returns the payload's first n bytes (received: [0, n) is held),
// at most what an ICMP error quotes.
func (d *reassembly) prefix(n int) []byte {
	out := make([]byte, min(n, icmpQuoteMax))
	for _, p := range d.pieces {
		if p.start < len(out) {
			copy(out[p.start:], p.data)
		}
	}
	return out
}

// highest returns the end of the highest byte received.
func (d *reassembly) highest() int {
	if len(d.have) == 0 {
		return 0
	}
	return d.have[len(d.have)-1].end
}

// insertSpan adds a range that overlaps no existing one, merging neighbours.
func (d *reassembly) insertSpan(n span) {
	i := 0
	for i < len(d.have) && d.have[i].end < n.start {
		i++
	}
	// d.have[i] is the first span that could touch n.
	if i < len(d.have) && d.have[i].end == n.start {
		d.have[i].end = n.end
		if i+1 < len(d.have) && d.have[i+1].start == n.end {
			d.have[i].end = d.have[i+1].end
			d.have = append(d.have[:i+1], d.have[i+2:]...)
		}
		return
	}
	if i < len(d.have) && d.have[i].start == n.end {
		d.have[i].start = n.start
		return
	}
	d.have = append(d.have, span{})
	copy(d.have[i+1:], d.have[i:])
	d.have[i] = n
}

// expire removes every reassembly whose deadline has passed, calling fn for
// each (before removal) so the stack can count it and send "fragment
// reassembly time exceeded".
func (r *reassembler) expire(now time.Time, fn func(d *reassembly)) {
	for i := 0; i < len(r.list); {
		d := r.list[i]
		if now.Before(d.deadline) {
			i++
			continue
		}
		fn(d)
		r.drop(i)
	}
}

// nextDeadline returns the earliest reassembly deadline.
func (r *reassembler) nextDeadline() (time.Time, bool) {
	var t time.Time
	for _, d := range r.list {
		if t.IsZero() || d.deadline.Before(t) {
			t = d.deadline
		}
	}
	return t, !t.IsZero()
}
