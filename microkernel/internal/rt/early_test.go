package rt

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestInitialStackIsWhatRt0Reads walks the stack buildInitialStack leaves
// the way _rt0_arm64_linux and the runtime's sysargs do: argc, argv, NULL,
// envp, NULL, then auxv pairs up to AT_NULL.
func TestInitialStackIsWhatRt0Reads(t *testing.T) {
	mem := make([]uint64, 512)
	lo := uintptr(unsafe.Pointer(&mem[0]))
	top := lo + uintptr(len(mem))*8
	random := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	const hw = hwcapFP | hwcapASIMD | hwcapCRC32

	sp := buildInitialStack(top, hw, random)
	require.Zero(t, sp%16, "SP must be 16-byte aligned")
	require.True(t, sp >= lo && sp < top)
	at := func(i int) uint64 { return *(*uint64)(ptrOf(sp + uintptr(i)*8)) }

	require.EqualValues(t, 1, at(0), "argc")
	argv0 := uintptr(at(1))
	require.True(t, argv0 > sp && argv0 < top)
	name := unsafe.Slice((*byte)(ptrOf(argv0)), 6)
	require.Equal(t, "armos\x00", string(name))
	require.Zero(t, at(2), "end of argv")
	require.Zero(t, at(3), "empty environment")

	auxv := map[uint64]uint64{}
	i := 4
	for ; at(i) != atNull; i += 2 {
		_, dup := auxv[at(i)]
		require.False(t, dup, "auxv key %d twice", at(i))
		auxv[at(i)] = at(i + 1)
		require.Less(t, sp+uintptr(i+2)*8, top)
	}
	require.EqualValues(t, pageSize, auxv[atPagesz])
	require.EqualValues(t, hw, auxv[atHwcap])
	require.Zero(t, auxv[atSecure])
	rp := uintptr(auxv[atRandom])
	require.True(t, rp >= sp+uintptr(i+2)*8 && rp+16 <= top, "AT_RANDOM's bytes lie above the vectors")
	require.Equal(t, random, *(*[16]byte)(ptrOf(rp)))
}

// TestRandomSeedMixesRNGSeedAndCounter: the DTB's rng-seed reaches
// AT_RANDOM, and without one the counter still makes every boot differ.
func TestRandomSeedMixesRNGSeedAndCounter(t *testing.T) {
	saved := bootInfo.RNGSeed
	t.Cleanup(func() { bootInfo.RNGSeed = saved })

	bootInfo.RNGSeed = nil
	a, b := randomSeed(), randomSeed()
	require.NotEqual(t, a, b, "the counter differs between calls")
	require.NotEqual(t, [16]byte{}, a)

	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(0x5a + 7*i)
	}
	bootInfo.RNGSeed = seed
	withSeed := randomSeed()
	// The counter is xored into bytes 0-7 and 15-8 from its low byte up; the
	// host counter stays below 2^32, so bytes 4-11 carry the seed alone.
	var fold [16]byte
	for i, c := range seed {
		fold[i%16] ^= c
	}
	require.Equal(t, fold[4:12], withSeed[4:12], "the rng-seed is folded into AT_RANDOM")
}
