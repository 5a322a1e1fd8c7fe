package rt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// ASIDs and TTBR0: every process its own ASID, by generation.

// TestProcessesGetDistinctASIDs: procTTBR is root | ASID<<48, stable for a
// process, different between processes; the kernel uses ASID 0. syncTTBR
// loads TTBR0 only when it changes.
func TestProcessesGetDistinctASIDs(t *testing.T) {
	resetKernel(t, 256)
	a := newUser(t, 1)
	b := newUser(t, 1)
	ta, tb := procTTBR(a.p), procTTBR(b.p)
	require.Equal(t, pr(a.p).as.PT.Root(), ta&(1<<48-1))
	require.Equal(t, pr(b.p).as.PT.Root(), tb&(1<<48-1))
	require.NotZero(t, ta>>48)
	require.NotZero(t, tb>>48)
	require.NotEqual(t, ta>>48, tb>>48)
	require.Equal(t, ta, procTTBR(a.p), "kept within a generation")
	require.Equal(t, uint16(ta>>48), pr(a.p).asid.ASID)
	require.Equal(t, kas.PT.Root(), procTTBR(0), "the kernel: its root, ASID 0")

	switches := stats.TTBRSwitches
	cur = a.main
	syncTTBR()
	require.Equal(t, ta, curTTBR)
	syncTTBR()
	require.Equal(t, switches+1, stats.TTBRSwitches, "no reload for the same process")
	cur = b.main
	syncTTBR()
	require.Equal(t, tb, curTTBR)
	cur = idle
	syncTTBR()
	require.Equal(t, tb, curTTBR, "idle keeps what is loaded")
	cur = 0
	syncTTBR()
	require.Equal(t, kas.PT.Root(), curTTBR)
	require.Equal(t, switches+3, stats.TTBRSwitches)
}

// TestASIDRollover: with an ASID space of 4 (ASIDs 1-3 per generation),
// switching among 5 processes rolls the space over; each rollover flushes
// the TLB once; a process keeps its ASID within a generation; a process
// with an ASID of an old generation needs no invalidation.
func TestASIDRollover(t *testing.T) {
	resetKernel(t, 256)
	initProcs(4)
	var us []*uproc
	for k := 0; k < 5; k++ {
		us = append(us, newUser(t, 1))
	}
	type tag struct{ gen, asid uint64 }
	tags := map[int]tag{}
	gen, next, rolls := uint64(1), uint64(1), uint64(0)
	rollovers, flushes := stats.ASIDRollovers, tlbiCalls()
	for round := 0; round < 4; round++ {
		for k, u := range us {
			if round == 3 && k%2 == 1 {
				continue // only some run in the last round
			}
			if tags[u.p].gen != gen {
				if next >= 4 {
					gen, next = gen+1, 1
					rolls++
				}
				tags[u.p] = tag{gen, next}
				next++
			}
			cur = u.main
			syncTTBR()
			require.Equal(t, tags[u.p].asid, curTTBR>>48, "round %d process %d", round, k)
			require.Equal(t, pr(u.p).as.PT.Root(), curTTBR&(1<<48-1))
			require.Equal(t, curTTBR, procTTBR(u.p), "kept within the generation")
			require.Equal(t, gen, pr(u.p).asid.Gen)
		}
	}
	require.Greater(t, rolls, uint64(2))
	require.Equal(t, rollovers+rolls, stats.ASIDRollovers)
	require.Equal(t, gen, asids.Generation())
	if hostStandIns {
		require.Equal(t, flushes+rolls, tlbiCalls(), "one flush per rollover")
		// A process whose ASID is from an old generation has no TLB
		// entries since the flush; one with a current ASID does.
		for _, u := range us {
			n := tlbiCalls()
			invalidate(u.p, u.scratch, pageSize)
			if pr(u.p).asid.Gen == gen {
				require.Equal(t, n+1, tlbiCalls())
			} else {
				require.Equal(t, n, tlbiCalls())
			}
		}
		n := tlbiCalls()
		invalidate(0, 0x1000, 1000*pageSize)
		require.Equal(t, n+1, tlbiCalls(), "the kernel's: global, one call for a big range")
	}
}
