package tcp

// sendQueue is the send buffer: the bytes from SND.UNA on, bounded by
// limit. Bytes written with write are copied into a ring; a large write
// handed over with writeOwned stays where it lies (an application's IPC
// message, say) until it is acknowledged, then goes back to its owner
// (done). parts tells, in order, which bytes are where: runs of the
// ring's bytes and owned pieces. An owned piece holds storage its owner
// allocated (an IPC message buffer can be several times the bytes it
// carries), so at most maxOwnedParts are queued at once.
type sendQueue struct {
	r      ring // the copied bytes, in queue order
	parts  []sendPart
	n      int // queued bytes
	owned  int // owned parts queued
	limit  int
	viewsA [maxSendViews][]byte // views' result, reused
}

// sendPart is a run of queued bytes: k bytes of the ring, or, owned, the
// bytes ext (what is left of them), which done gives back.
type sendPart struct {
	ext   []byte
	k     int
	owned bool
	done  func()
}

const (
	// maxOwnedParts bounds the owned pieces a queue holds.
	maxOwnedParts = 8
	// maxSendViews is the most pieces views returns: what a gathered
	// send takes besides the segment's header (libipc's eight pieces less
	// the header and the encoding around them).
	maxSendViews = 5
)

func newSendQueue(limit int) sendQueue { return sendQueue{r: newRing(limit), limit: limit} }

// len returns the queued bytes.
func (q *sendQueue) len() int { return q.n }

// free returns the room left.
func (q *sendQueue) free() int { return q.limit - q.n }

// write copies as much of p as fits and returns how much that was.
func (q *sendQueue) write(p []byte) int {
	k := q.r.write(p[:min(len(p), q.free())])
	if k == 0 {
		return 0
	}
	if last := len(q.parts) - 1; last >= 0 && !q.parts[last].owned {
		q.parts[last].k += k
	} else {
		q.parts = append(q.parts, sendPart{k: k})
	}
	q.n += k
	return k
}

// writeOwned queues p without copying it, if all of it fits and fewer
// than maxOwnedParts are queued, and reports whether it did: done is
// called once p is no longer needed (acknowledged, or the queue
// released). When it reports false, p and done stay the caller's.
func (q *sendQueue) writeOwned(p []byte, done func()) bool {
	if len(p) == 0 || len(p) > q.free() || q.owned >= maxOwnedParts {
		return false
	}
	q.parts = append(q.parts, sendPart{ext: p, k: len(p), owned: true, done: done})
	q.owned++
	q.n += len(p)
	return true
}

// walk calls fn with the k queued bytes from off, in order, as the
// slices they lie in (a ring run in two where the ring wraps), until fn
// returns false; the slices are valid until the queue changes.
func (q *sendQueue) walk(off, k int, fn func([]byte) bool) {
	k = min(k, q.n-off)
	ringOff := 0 // the ring's bytes before the part
	for i := 0; i < len(q.parts) && k > 0; i++ {
		p := &q.parts[i]
		if off < p.k {
			m := min(k, p.k-off)
			if p.owned {
				if !fn(p.ext[off : off+m]) {
					return
				}
			} else {
				a, b := q.r.views(ringOff+off, m)
				if !fn(a) || (len(b) > 0 && !fn(b)) {
					return
				}
			}
			k -= m
			off = 0
		} else {
			off -= p.k
		}
		if !p.owned {
			ringOff += p.k
		}
	}
}

// views returns the k queued bytes from off as the slices they lie in,
// valid until the queue changes; nil if there are more than maxSendViews
// of them (peek copies them then).
func (q *sendQueue) views(off, k int) [][]byte {
	out := q.viewsA[:0]
	fits := true
	q.walk(off, k, func(v []byte) bool {
		if fits = len(out) < maxSendViews; fits {
			out = append(out, v)
		}
		return fits
	})
	if !fits {
		return nil
	}
	return out
}

// peek copies queued bytes from offset off into p and returns the count.
func (q *sendQueue) peek(off int, p []byte) int {
	done := 0
	q.walk(off, len(p), func(v []byte) bool {
		done += copy(p[done:], v)
		return true
	})
	return done
}

// discard drops k queued bytes from the front, giving owned pieces back
// as they are used up.
func (q *sendQueue) discard(k int) {
	k = min(k, q.n)
	q.n -= k
	drop := 0
	for k > 0 {
		p := &q.parts[drop]
		m := min(k, p.k)
		k -= m
		if p.owned {
			p.ext = p.ext[m:]
		} else {
			q.r.discard(m)
		}
		p.k -= m
		if p.k > 0 {
			break
		}
		q.endPart(p)
		drop++
	}
	if drop > 0 {
		n := copy(q.parts, q.parts[drop:])
		clear(q.parts[n:])
		q.parts = q.parts[:n]
	}
}

// endPart gives an owned part back.
func (q *sendQueue) endPart(p *sendPart) {
	if p.owned {
		q.owned--
		if p.done != nil {
			p.done()
		}
	}
	*p = sendPart{}
}

// release empties the queue, giving every owned piece back, and frees the
// ring's storage.
func (q *sendQueue) release() {
	for i := range q.parts {
		q.endPart(&q.parts[i])
	}
	q.parts = q.parts[:0]
	q.n, q.owned = 0, 0
	q.r.release()
}
