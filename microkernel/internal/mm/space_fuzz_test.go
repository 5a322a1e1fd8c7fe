package mm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzAddressSpace drives an AddressSpace with random mmap (fixed or not),
// munmap, madvise(DONTNEED), mprotect and faults. After every step: each
// present page lies in a region and carries exactly AttrFor(prot)|
// AttrSWOwned (PROT_NONE pages stay, contents kept); the PhysMem holds exactly the tables
// plus the present pages; fault results agree with the regions. Destroy
// returns every page.
func FuzzAddressSpace(f *testing.F) {
	f.Add([]byte{0, 0, 10, 3, 4, 0, 2, 4, 2, 1, 2, 1, 3, 0, 0, 1, 0, 5, 1, 0})
	f.Add([]byte{1, 5, 20, 0, 4, 8, 1, 4, 0, 3, 5, 2, 2, 0, 2, 4, 0, 4, 6, 4})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const span = 128 // pages in the address space
		p, _ := newPhys(t, 48*PageSize)
		as := new(AddressSpace)
		const lo = 0x40_0000
		require.Equal(t, OK, as.Init(p, lo, lo+span*PageSize, false))
		shadow := make([]byte, span*PageSize) // what the process would read
		drop := func(addr, length uint64) {
			from, to := addr-lo, addr-lo+length
			if to > uint64(len(shadow)) {
				to = uint64(len(shadow))
			}
			if from < to {
				clear(shadow[from:to])
			}
		}
		for len(ops) >= 4 {
			op, pg0, n, arg := ops[0]%8, uint64(ops[1])%span, uint64(ops[2])%32+1, ops[3]
			ops = ops[4:]
			addr, length := lo+pg0*PageSize, n*PageSize
			prot := Prot(arg % 8)
			switch op {
			case 0:
				if _, _, e := as.Mmap(addr, length, prot, arg>>6, arg&8 != 0, nil); e == OK && arg&8 != 0 {
					drop(addr, length)
				}
			case 1:
				if _, e := as.Munmap(addr, length, nil); e == OK {
					drop(addr, length)
				}
			case 2:
				if _, e := as.MadviseDontneed(addr, length, nil); e == OK {
					drop(addr, length)
				}
			case 3:
				as.Mprotect(addr, length, prot, nil) // PROT_NONE keeps the contents
			case 6: // CopyOut a pattern at an unaligned address
				va := addr + uint64(arg)*7
				src := make([]byte, int(n)*200)
				for i := range src {
					src[i] = byte(i) ^ arg
				}
				done, e := as.CopyOut(va, src)
				require.LessOrEqual(t, done, len(src))
				if e == OK {
					require.Equal(t, len(src), done)
				}
				copy(shadow[va-lo:], src[:done])
			case 7: // CopyIn and compare with what was written
				va := addr + uint64(arg)*7
				dst := make([]byte, int(n)*200)
				done, e := as.CopyIn(dst, va)
				if e == OK {
					require.Equal(t, len(dst), done)
				}
				require.Equal(t, shadow[va-lo:va-lo+uint64(done)], dst[:done])
			case 4, 5:
				acc := Access(arg % 3)
				va := addr + uint64(arg)*13
				r, inVMA := as.VMAs.Find(va)
				_, _, wasMapped := as.PT.Lookup(va)
				res := as.Fault(va, acc)
				switch {
				case !inVMA:
					require.Equal(t, FaultSegvMapErr, res)
				case !allows(r.Prot, acc):
					require.Equal(t, FaultSegvAccErr, res)
				case wasMapped:
					require.Equal(t, FaultSpurious, res)
				default:
					require.Contains(t, []FaultResult{FaultMapped, FaultOOM}, res)
				}
			}
			present := uint64(0)
			for pg := uint64(0); pg < span; pg++ {
				va := lo + pg*PageSize
				pa, attr, ok := as.PT.Lookup(va)
				if !ok {
					continue
				}
				present++
				r, inVMA := as.VMAs.Find(va)
				require.True(t, inVMA, "page %#x mapped outside any region", va)
				require.Equal(t, AttrFor(r.Prot, false)|AttrSWOwned, attr)
				require.False(t, p.IsFree(pa))
			}
			st := as.PT.Stats()
			require.Equal(t, present, st.Pages)
			require.Equal(t, st.Tables+present, p.Stats().Used)
		}
		as.Destroy()
		require.Zero(t, p.Stats().Used)
	})
}
