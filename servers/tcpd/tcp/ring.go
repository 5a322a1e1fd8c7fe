package tcp

// ring is a bounded byte queue: the send buffer (bytes from SND.UNA on) and
// the receive buffer (bytes the application has not read, then room for
// out-of-order data at its offset). Storage grows on demand up to the
// bound, so an idle or embryonic connection costs little; offsets past the
// queued length can be written (writeAt) before they become part of it
// (commit), which is how out-of-order segments wait in place.
type ring struct {
	b     []byte // storage; the queue starts at head and wraps
	head  int
	n     int // queued bytes
	limit int // bound on storage and on n
}

// ringMinAlloc is the first storage size a ring allocates.
const ringMinAlloc = 4096

func newRing(limit int) ring { return ring{limit: limit} }

// len returns the queued bytes.
func (r *ring) len() int { return r.n }

// free returns the room left after the queued bytes.
func (r *ring) free() int { return r.limit - r.n }

// reserve makes storage for size bytes from head, keeping every byte
// already written (queued or not) at its offset.
func (r *ring) reserve(size int) {
	if size <= len(r.b) {
		return
	}
	nb := make([]byte, min(max(size, 2*len(r.b), ringMinAlloc), r.limit))
	k := copy(nb, r.b[r.head:])
	copy(nb[k:], r.b[:r.head])
	r.b, r.head = nb, 0
}

// writeAt copies p to offset off from the head; off+len(p) must be within
// the limit. The queued length does not change (see commit).
func (r *ring) writeAt(off int, p []byte) {
	if len(p) == 0 {
		return
	}
	r.reserve(off + len(p))
	pos := (r.head + off) % len(r.b)
	k := copy(r.b[pos:], p)
	copy(r.b, p[k:])
}

// commit adds k bytes already written after the queue to it.
func (r *ring) commit(k int) { r.n += k }

// write appends as much of p as fits and returns how much that was.
func (r *ring) write(p []byte) int {
	k := min(len(p), r.free())
	r.writeAt(r.n, p[:k])
	r.n += k
	return k
}

// peek copies queued bytes from offset off into p and returns the count.
func (r *ring) peek(off int, p []byte) int {
	a, b := r.views(off, len(p))
	return copy(p, a) + copy(p[len(a):], b)
}

// views returns the k queued bytes from off as at most two slices of the
// ring itself (the second empty unless they wrap), valid until the ring
// changes.
func (r *ring) views(off, k int) (a, b []byte) {
	k = min(k, r.n-off)
	if k <= 0 {
		return nil, nil
	}
	pos := (r.head + off) % len(r.b)
	if pos+k <= len(r.b) {
		return r.b[pos : pos+k], nil
	}
	return r.b[pos:], r.b[:k-(len(r.b)-pos)]
}

// discard drops k queued bytes from the front.
func (r *ring) discard(k int) {
	if k <= 0 {
		return
	}
	r.head = (r.head + k) % len(r.b)
	r.n -= k
}

// read copies queued bytes into p, drops them and returns the count.
func (r *ring) read(p []byte) int {
	k := r.peek(0, p)
	r.discard(k)
	return k
}

// release empties the ring and frees its storage.
func (r *ring) release() { r.b, r.head, r.n = nil, 0, 0 }
