package tcp

// maxOutOfOrder bounds the separate runs of out-of-order data a connection
// keeps; a segment that would need one more is dropped (counted), as
// smoltcp's assembler does. The bytes themselves are bounded by the
// receive window.
const maxOutOfOrder = 32

// span is a run of received bytes [start, end), as offsets from RCV.NXT.
type span struct{ start, end int }

// assembler records which bytes past RCV.NXT have arrived out of order
// (they wait in the receive ring at their offsets): sorted, disjoint,
// non-touching spans, all starting after offset 0. The sender's SACK
// scoreboard is one too, its offsets counted from SND.UNA (sack.go).
type assembler struct {
	s [maxOutOfOrder]span
	n int
}

// add records [start, end), merging it with the spans it overlaps or
// touches. It reports false, recording nothing, when that would need more
// than maxOutOfOrder spans.
func (a *assembler) add(start, end int) bool {
	var out [maxOutOfOrder + 1]span
	m, placed := 0, false
	for _, s := range a.s[:a.n] {
		switch {
		case s.end < start:
			out[m] = s
			m++
		case end < s.start:
			if !placed {
				out[m] = span{start, end}
				m, placed = m+1, true
			}
			out[m] = s
			m++
		default: // overlapping or touching: absorb s
			start, end = min(start, s.start), max(end, s.end)
		}
	}
	if !placed {
		out[m] = span{start, end}
		m++
	}
	if m > maxOutOfOrder {
		return false
	}
	a.n = copy(a.s[:], out[:m])
	return true
}

// advance is told that the k bytes after RCV.NXT are now in order. It
// returns how far in-order data reaches counting the spans that now touch
// it (at least k), forgets those spans, and rebases the rest on the new
// RCV.NXT.
func (a *assembler) advance(k int) int {
	i := 0
	for i < a.n && a.s[i].start <= k {
		k = max(k, a.s[i].end)
		i++
	}
	a.n = copy(a.s[:], a.s[i:a.n])
	for j := range a.s[:a.n] {
		a.s[j].start -= k
		a.s[j].end -= k
	}
	return k
}

// bytes returns the out-of-order bytes held.
func (a *assembler) bytes() int {
	n := 0
	for _, s := range a.s[:a.n] {
		n += s.end - s.start
	}
	return n
}

// reset forgets everything.
func (a *assembler) reset() { a.n = 0 }
