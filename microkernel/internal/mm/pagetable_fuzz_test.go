package mm

import (
	"encoding/binary"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// ptLeaf is one mapping in the reference model.
type ptLeaf struct {
	va, size, pa uint64
	attr         Attr
}

type ptModel struct{ leaves map[uint64]ptLeaf } // by va

func (m *ptModel) covering(va uint64) (ptLeaf, bool) {
	for _, l := range m.leaves {
		if va >= l.va && va-l.va < l.size {
			return l, true
		}
	}
	return ptLeaf{}, false
}

func (m *ptModel) anyIn(va, size uint64) bool {
	for _, l := range m.leaves {
		if l.va < va+size && va < l.va+l.size {
			return true
		}
	}
	return false
}

// tables is the number of table pages the model's leaves need, root included.
func (m *ptModel) tables() uint64 {
	need := map[[2]uint64]bool{}
	for _, l := range m.leaves {
		if l.size <= Level1Size {
			need[[2]uint64{1, l.va >> 39}] = true
		}
		if l.size <= Level2Size {
			need[[2]uint64{2, l.va >> 30}] = true
		}
		if l.size == PageSize {
			need[[2]uint64{3, l.va >> 21}] = true
		}
	}
	return uint64(len(need)) + 1
}

// fuzzVA builds an address from 8 bits of selector so that random
// addresses share tables at every level.
func fuzzVA(sel byte) uint64 {
	l0 := []uint64{0, 1, 255}[sel%3]
	l1 := []uint64{0, 1, 511}[(sel/3)%3]
	l2 := []uint64{0, 1, 2}[(sel/9)%3]
	l3 := []uint64{0, 1, 511}[(sel/27)%3]
	return l0<<39 | l1<<30 | l2<<21 | l3<<12
}

// FuzzPageTable runs random Map/MapBlock/Unmap/UnmapRange/Lookup sequences
// against a PageTable and a leaf-list model in a small physical memory
// (so table allocation fails sometimes). After every step: results match
// the model, the leaf counters match, and the number of table pages is
// exactly what the live mappings need (no leaked or missing tables).
func FuzzPageTable(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2})
	f.Add([]byte{2, 27, 0, 0, 0, 0, 0, 0, 0, 1, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		p, _ := newPhys(t, 24*PageSize)
		pt := new(PageTable)
		require.Equal(t, OK, pt.Init(p))
		m := ptModel{leaves: map[uint64]ptLeaf{}}
		for len(ops) >= 10 {
			op, sel := ops[0]%6, ops[1]
			pa := binary.LittleEndian.Uint64(ops[2:10]) & (1<<PABits - 1) &^ (Level1Size - 1)
			ops = ops[10:]
			va := fuzzVA(sel)
			attr := []Attr{UserRW, KernelRW, KernelDevice, UserRX}[sel%4]
			switch op {
			case 0, 1, 2: // Map page, 2 MiB block, 1 GiB block
				size := []uint64{PageSize, Level2Size, Level1Size}[op]
				va &^= size - 1
				var e Errno
				if op == 0 {
					e = pt.Map(va, pa, attr)
				} else {
					e = pt.MapBlock(va, pa, size, attr)
				}
				cover, covered := m.covering(va)
				switch {
				case covered && cover.size > size:
					require.Equal(t, ErrBlock, e)
				case m.anyIn(va, size):
					require.Equal(t, ErrExists, e)
				case e == ErrNoMemory:
				default:
					require.Equal(t, OK, e)
					m.leaves[va] = ptLeaf{va, size, pa, attr}
				}
			case 3: // Unmap
				got, e := pt.Unmap(va)
				l, ok := m.covering(va)
				switch {
				case !ok:
					require.Equal(t, ErrNotMapped, e)
				case l.size > PageSize:
					require.Equal(t, ErrBlock, e)
				default:
					require.Equal(t, OK, e)
					require.Equal(t, l.pa, got)
					delete(m.leaves, va)
				}
			case 4: // UnmapRange of a span from va, sized by the selector
				size := []uint64{PageSize, Level2Size, Level1Size, Level0Size, 3 * Level2Size}[sel%5]
				n, e := pt.UnmapRange(va, size, false)
				var ls []ptLeaf
				for _, l := range m.leaves {
					if l.va < va+size && va < l.va+l.size {
						ls = append(ls, l)
					}
				}
				sort.Slice(ls, func(i, j int) bool { return ls[i].va < ls[j].va })
				want, wantErr := uint64(0), OK
				for _, l := range ls {
					if l.va < va || l.va+l.size > va+size {
						wantErr = ErrBlock
						break
					}
					want += l.size / PageSize
					delete(m.leaves, l.va)
				}
				require.Equal(t, wantErr, e)
				require.Equal(t, want, n)
			case 5: // Lookup
				off := uint64(sel) * 8
				got, attr, ok := pt.Lookup(va + off)
				l, covered := m.covering(va + off)
				require.Equal(t, covered, ok)
				if ok {
					require.Equal(t, l.pa+(va+off-l.va), got)
					require.Equal(t, l.attr, attr)
				}
				// The run from there: every byte of it maps where the
				// first does, plus its distance, with its attributes.
				max := uint64(sel%32+1) * PageSize / 3
				rpa, rattr, n, rok := pt.LookupRun(va+off, max)
				require.Equal(t, ok, rok)
				if rok {
					require.Equal(t, got, rpa)
					require.Equal(t, attr, rattr)
					first := PageSize - (va+off)&pageMask
					require.True(t, n == first || n <= max, "run %d of at most %d (page %d)", n, max, first)
					for at := (va + off) &^ pageMask; at < va+off+n; at += PageSize {
						l, covered := m.covering(at)
						require.True(t, covered, "run page %#x mapped", at)
						require.Equal(t, rpa&^pageMask+(at-(va+off)&^pageMask), l.pa+(at-l.va), "run page %#x consecutive", at)
						require.Equal(t, rattr, l.attr)
					}
				}
			}
			var pages, blocks uint64
			for _, l := range m.leaves {
				if l.size == PageSize {
					pages++
				} else {
					blocks++
				}
			}
			st := pt.Stats()
			require.Equal(t, pages, st.Pages)
			require.Equal(t, blocks, st.Blocks)
			require.Equal(t, m.tables(), st.Tables)
			require.Equal(t, st.Tables, p.Stats().Used, "every allocated page is a live table")
		}
		_, e := pt.UnmapRange(0, VALimit, false)
		require.Equal(t, OK, e)
		require.Equal(t, uint64(1), p.Stats().Used, "only the root survives a full unmap")
		pt.Destroy(false)
		require.Zero(t, p.Stats().Used)
	})
}
