package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// vmaModel is the reference: one slot per page.
type vmaModel struct {
	present [fuzzPages]bool
	attr    [fuzzPages]VMA // Prot/Flags only
}

const fuzzPages = 1024

func (m *vmaModel) firstFit(n int) int {
	run := 0
	for p := 0; p < fuzzPages; p++ {
		if m.present[p] {
			run = 0
			continue
		}
		run++
		if run == n {
			return p - n + 1
		}
	}
	return -1
}

func (m *vmaModel) free(s, n int) bool {
	if s < 0 || s+n > fuzzPages {
		return false
	}
	for p := s; p < s+n; p++ {
		if m.present[p] {
			return false
		}
	}
	return true
}

// checkInvariants verifies the table's canonical form and equality with the model.
func checkInvariants(t *testing.T, vt *VMATable, m *vmaModel) {
	lo, hi := vt.Bounds()
	var got vmaModel
	prevEnd := lo
	for i := 0; i < vt.Len(); i++ {
		r, ok := vt.At(i)
		require.True(t, ok)
		require.Less(t, r.Start, r.End, "non-empty")
		require.Zero(t, r.Start&pageMask|r.End&pageMask, "aligned")
		require.GreaterOrEqual(t, r.Start, prevEnd, "sorted, non-overlapping")
		require.LessOrEqual(t, r.End, hi)
		if i > 0 {
			prev, _ := vt.At(i - 1)
			require.False(t, prev.End == r.Start && prev.sameAttrs(r), "adjacent equal regions merged")
		}
		prevEnd = r.End
		for p := (r.Start - lo) / pg; p < (r.End-lo)/pg; p++ {
			got.present[p] = true
			got.attr[p] = VMA{Prot: r.Prot, Flags: r.Flags}
		}
	}
	if m.present != got.present || m.attr != got.attr { // fast path: arrays compare with ==
		require.Equal(t, m.present, got.present)
		require.Equal(t, m.attr, got.attr)
	}
}

// FuzzVMATable applies random Set/Clear/Reserve/Protect/Find sequences to
// a VMATable and a page-per-slot model: results must agree, invariants
// must hold after every step, and refused operations must change nothing.
func FuzzVMATable(f *testing.F) {
	f.Add([]byte{0, 0, 100, 0, 0, 10, 5, 3, 1, 12, 2, 2, 20, 0, 0, 3, 0, 4})
	f.Add([]byte{2, 0, 0, 64, 3, 2, 0, 0, 64, 1, 1, 0, 8, 8, 0, 3, 0, 10, 30, 3})
	alt := []byte{}
	for i := range 300 { // many small alternating regions: reaches MaxVMAs
		alt = append(alt, 0, byte(i*3>>8), byte(i*3), 1, byte(i%2))
	}
	f.Add(alt)
	f.Fuzz(func(t *testing.T, ops []byte) {
		const lo = 0x400000
		vt := new(VMATable)
		require.Equal(t, OK, vt.Init(lo, lo+fuzzPages*pg))
		var m vmaModel
		for len(ops) >= 5 {
			op, sp, n, prot := ops[0]%5, int(ops[1])<<8|int(ops[2]), int(ops[3]%64)+1, Prot(ops[4]%8)
			flags := ops[4] >> 6
			ops = ops[5:]
			sp %= fuzzPages
			start, length := lo+uint64(sp)*pg, uint64(n)*pg
			inRange := sp+n <= fuzzPages
			before := vt.v
			unchanged := func() { require.True(t, before == vt.v, "refused operation changed the table") }
			switch op {
			case 0, 1: // Set / Clear
				var e Errno
				if op == 0 {
					e = vt.Set(start, length, prot, flags)
				} else {
					e = vt.Clear(start, length)
				}
				if !inRange {
					require.Equal(t, ErrRange, e)
				} else if e == ErrFull {
					unchanged()
				} else {
					require.Equal(t, OK, e)
					for p := sp; p < sp+n; p++ {
						m.present[p] = op == 0
						m.attr[p] = VMA{}
						if op == 0 {
							m.attr[p] = VMA{Prot: prot, Flags: flags}
						}
					}
				}
			case 2: // Reserve with hint
				addr, e := vt.Reserve(start, length, prot, flags)
				want := sp
				if !m.free(sp, n) {
					want = m.firstFit(n)
				}
				if want < 0 {
					require.Equal(t, ErrNoMemory, e)
				} else if e == ErrFull {
					unchanged()
				} else {
					require.Equal(t, OK, e)
					require.Equal(t, lo+uint64(want)*pg, addr)
					for p := want; p < want+n; p++ {
						m.present[p], m.attr[p] = true, VMA{Prot: prot, Flags: flags}
					}
				}
			case 3: // Protect
				e := vt.Protect(start, length, prot)
				covered := inRange
				for p := sp; covered && p < sp+n; p++ {
					covered = m.present[p]
				}
				switch {
				case !inRange:
					require.Equal(t, ErrRange, e)
				case !covered:
					require.Equal(t, ErrNoVMA, e)
					unchanged()
				case e == ErrFull:
					unchanged()
				default:
					require.Equal(t, OK, e)
					for p := sp; p < sp+n; p++ {
						m.attr[p].Prot = prot
					}
				}
			case 4: // Find
				va := start + uint64(ops4(prot))
				r, ok := vt.Find(va)
				require.Equal(t, m.present[sp], ok)
				if ok {
					require.True(t, r.Start <= va && va < r.End)
					require.Equal(t, m.attr[sp].Prot, r.Prot)
				}
			}
			checkInvariants(t, vt, &m)
		}
	})
}

// ops4 derives an in-page offset from fuzz bits.
func ops4(p Prot) uint64 { return uint64(p) * 511 }
