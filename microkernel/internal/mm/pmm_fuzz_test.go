package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzPhysMem runs random Alloc/Free/AllocRun/FreeRun sequences, including
// bad frees, on a 200-page allocator with a reserved hole. Invariants: a
// page is never handed out twice or from the hole or metadata; refused
// frees change nothing; Free+Used == Total, and Peak >= Used.
func FuzzPhysMem(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 2, 3, 4, 1, 1, 2, 0})
	f.Add([]byte{2, 16, 2, 4, 3, 0, 1, 7, 1, 7, 0, 0, 2, 200})
	f.Fuzz(func(t *testing.T, ops []byte) {
		hole := Range{testRAMBase + 50*PageSize, testRAMBase + 60*PageSize}
		p, _ := newPhys(t, 200*PageSize, hole)
		meta := p.Stats().Meta
		held := map[uint64]bool{}
		var order []uint64
		for len(ops) >= 2 {
			op, arg := ops[0]%4, ops[1]
			ops = ops[2:]
			before := p.Stats()
			switch op {
			case 0: // Alloc
				pa, e := p.Alloc()
				if e != OK {
					require.Equal(t, before.Free, uint64(0))
					break
				}
				require.False(t, held[pa], "page %#x handed out twice", pa)
				require.False(t, pa >= hole.Start && pa < hole.End, "reserved page handed out")
				require.GreaterOrEqual(t, pa, uint64(testRAMBase+meta*PageSize), "metadata page handed out")
				held[pa] = true
				order = append(order, pa)
			case 1: // Free a held page, or a bad address
				if len(order) > 0 && arg%4 != 0 {
					i := int(arg) % len(order)
					pa := order[i]
					order = append(order[:i], order[i+1:]...)
					if held[pa] {
						require.Equal(t, OK, p.Free(pa))
						delete(held, pa)
					}
					break
				}
				bad := testRAMBase + uint64(arg)*PageSize
				e := p.Free(bad)
				if !held[bad] {
					require.NotEqual(t, OK, e)
					after := p.Stats()
					require.Equal(t, before.Free, after.Free, "refused free changed counters")
				} else {
					require.Equal(t, OK, e)
					delete(held, bad)
					for i, q := range order {
						if q == bad {
							order = append(order[:i], order[i+1:]...)
							break
						}
					}
				}
			case 2: // AllocRun
				n := uint32(arg%16) + 1
				align := uint64(PageSize) << (arg >> 6)
				pa, e := p.AllocRun(n, align)
				if e != OK {
					break
				}
				require.Zero(t, pa%align)
				for k := uint64(0); k < uint64(n); k++ {
					q := pa + k*PageSize
					require.False(t, held[q], "run page %#x already held", q)
					require.False(t, q >= hole.Start && q < hole.End)
					held[q] = true
					order = append(order, q)
				}
			case 3: // double free of something freed
				if len(order) == 0 {
					break
				}
				pa := order[int(arg)%len(order)]
				require.Equal(t, OK, p.Free(pa))
				require.Equal(t, ErrDoubleFree, p.Free(pa))
				delete(held, pa)
				for i, q := range order {
					if q == pa {
						order = append(order[:i], order[i+1:]...)
						break
					}
				}
			}
			st := p.Stats()
			require.Equal(t, st.Total, st.Free+st.Used)
			require.Equal(t, uint64(len(held)), st.Used)
			require.GreaterOrEqual(t, st.Peak, st.Used)
		}
	})
}
