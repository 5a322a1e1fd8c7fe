package tcp

// seq is a TCP sequence number. Sequence space is circular (RFC 9293 3.4):
// a is "before" b when the signed 32-bit distance from b to a is negative,
// which is right as long as the two are less than 2^31 apart — always the
// case for numbers inside one connection's windows.
type seq uint32

// add returns a+n (n may be negative).
func (a seq) add(n int) seq { return a + seq(uint32(n)) }

// sub returns the signed distance a-b.
func (a seq) sub(b seq) int { return int(int32(a - b)) }

// lt reports a < b in sequence space.
func (a seq) lt(b seq) bool { return int32(a-b) < 0 }

// le reports a <= b in sequence space.
func (a seq) le(b seq) bool { return int32(a-b) <= 0 }

// gt reports a > b in sequence space.
func (a seq) gt(b seq) bool { return int32(a-b) > 0 }

// ge reports a >= b in sequence space.
func (a seq) ge(b seq) bool { return int32(a-b) >= 0 }

// in reports lo <= a < lo+n (false when n <= 0).
func (a seq) in(lo seq, n int) bool { return n > 0 && a.ge(lo) && a.sub(lo) < n }

// maxSeq returns the later of a and b.
func maxSeq(a, b seq) seq {
	if a.gt(b) {
		return a
	}
	return b
}
