package vdso

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestVVarLayout(t *testing.T) {
	var v VVar
	require.EqualValues(t, OffSeq, unsafe.Offsetof(v.Seq))
	require.EqualValues(t, OffClockMask, unsafe.Offsetof(v.ClockMask))
	require.EqualValues(t, OffMult, unsafe.Offsetof(v.Mult))
	require.EqualValues(t, OffCycleBase, unsafe.Offsetof(v.CycleBase))
	require.EqualValues(t, OffShift, unsafe.Offsetof(v.Shift))
	require.EqualValues(t, OffResolution, unsafe.Offsetof(v.ResolutionNS))
	require.EqualValues(t, OffBase, unsafe.Offsetof(v.Base))
	require.EqualValues(t, VVarLen, unsafe.Sizeof(v))
	require.Equal(t, 96, VVarLen)
	require.EqualValues(t, 0xf3, ServedClocks)
}

// TestPutIsMemoryLayout: Put writes the struct's own bytes (both armos's
// target and the test hosts are little-endian), so the kernel may equally
// view the page as a *VVar.
func TestPutIsMemoryLayout(t *testing.T) {
	v := VVar{Seq: 2, ClockMask: 0xf3, Mult: 0x0102030405060708, CycleBase: 0x1112131415161718,
		Shift: 58, ResolutionNS: 7}
	for i := range v.Base {
		v.Base[i] = uint64(i+1) * 0x0101010101010101
	}
	page := make([]byte, PageSize)
	v.Put(page)
	require.Equal(t, unsafe.Slice((*byte)(unsafe.Pointer(&v)), VVarLen), page[:VVarLen])
	require.Equal(t, make([]byte, PageSize-VVarLen), page[VVarLen:])
	require.Equal(t, v, Decode(page))
}

func TestScale(t *testing.T) {
	for _, c := range []struct {
		freq  uint64
		mult  uint64
		shift uint32
	}{
		{62_500_000, 16, 0}, // QEMU virt
		{1_000_000_000, 1, 0},
		{2_000_000_000, 1, 1},
		{25_000_000, 40, 0},
		{50_000_000, 20, 0},
		{1_000_000, 1000, 0},
		{1, 1_000_000_000, 0},
		{0, 0, 0},
	} {
		mult, shift := Scale(c.freq)
		require.Equal(t, c.mult, mult, "freq %d", c.freq)
		require.Equal(t, c.shift, shift, "freq %d", c.freq)
	}
	// Inexact ratios: mult = floor(1e9 << shift / freq) with the largest
	// shift (at most 63) whose mult fits in 64 bits.
	for _, freq := range []uint64{24_000_000, 19_200_000, 54_000_000, 3, 1<<40 + 1, 7_000_000_000} {
		mult, shift := Scale(freq)
		require.True(t, shift == 63 || mult >= 1<<63, "freq %d: mult %#x shift %d", freq, mult, shift)
		want := new(big.Int).Lsh(big.NewInt(1e9), uint(shift))
		want.Div(want, new(big.Int).SetUint64(freq))
		require.Equal(t, want.Uint64(), mult, "freq %d", freq)
	}
	mult, shift := Scale(24_000_000)
	require.EqualValues(t, 58, shift)
	require.NotZero(t, mult)
}

// exactNS is floor(ticks * 1e9 / freq).
func exactNS(ticks, freq uint64) uint64 {
	n := new(big.Int).Mul(new(big.Int).SetUint64(ticks), big.NewInt(1e9))
	return n.Div(n, new(big.Int).SetUint64(freq)).Uint64()
}

// TestConvertNSAccuracy: exact for dyadic ratios, within 1 ns of the true
// value otherwise, over 200 years of ticks.
func TestConvertNSAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const years200 = 200 * 365 * 24 * 3600
	for _, freq := range []uint64{62_500_000, 1_000_000_000, 25_000_000, 1_000_000,
		24_000_000, 19_200_000, 54_000_000, 100_000_000, 32_768} {
		mult, shift := Scale(freq)
		// Exact when mult/2^shift is 1e9/freq itself.
		prod := new(big.Int).Mul(new(big.Int).SetUint64(mult), new(big.Int).SetUint64(freq))
		exact := prod.Cmp(new(big.Int).Lsh(big.NewInt(1e9), uint(shift))) == 0
		if freq == 62_500_000 || freq%1_000_000 == 0 && 1_000_000_000%freq == 0 {
			require.True(t, exact, "freq %d", freq)
		}
		max := freq * years200
		samples := []uint64{0, 1, freq - 1, freq, freq + 1, max}
		for range 2000 {
			samples = append(samples, r.Uint64N(max))
		}
		for _, ticks := range samples {
			got, want := ConvertNS(ticks, mult, shift), exactNS(ticks, freq)
			if exact {
				require.Equal(t, want, got, "freq %d ticks %d", freq, ticks)
			} else {
				require.LessOrEqual(t, want-got, uint64(1), "freq %d ticks %d: got %d want %d", freq, ticks, got, want)
			}
		}
	}
}

// TestConvertNSIs128BitShift: ConvertNS is (ticks*mult) >> shift over the
// full 128-bit product, truncated, for every shift.
func TestConvertNSIs128BitShift(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	mask := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(1))
	for shift := uint32(0); shift < 64; shift++ {
		for range 200 {
			ticks, mult := r.Uint64(), r.Uint64()
			want := new(big.Int).Mul(new(big.Int).SetUint64(ticks), new(big.Int).SetUint64(mult))
			want.Rsh(want, uint(shift)).And(want, mask)
			require.Equal(t, want.Uint64(), ConvertNS(ticks, mult, shift), "shift %d", shift)
		}
	}
}

func FuzzConvertNS(f *testing.F) {
	f.Add(uint64(123456789), uint64(16), uint32(0))
	f.Add(^uint64(0), ^uint64(0), uint32(63))
	f.Fuzz(func(t *testing.T, ticks, mult uint64, shift uint32) {
		shift &= 63
		want := new(big.Int).Mul(new(big.Int).SetUint64(ticks), new(big.Int).SetUint64(mult))
		want.Rsh(want, uint(shift))
		require.Equal(t, want.Uint64(), ConvertNS(ticks, mult, shift)) // Uint64 keeps the low 64 bits
	})
}

func TestNewAndClockNS(t *testing.T) {
	const freq, boot, wall = 62_500_000, 1_000_000, 1_700_000_000_123_456_789
	page := make([]byte, PageSize)
	v := Fill(page, Params{CounterFreq: freq, BootCounter: boot, RealtimeAtBoot: wall})
	require.Equal(t, v, Decode(page))
	require.Equal(t, VVar{Mult: 16, CycleBase: boot, ClockMask: ServedClocks, ResolutionNS: 1,
		Base: [NumClocks]uint64{ClockRealtime: wall, ClockRealtimeCoarse: wall}}, v)

	// 1.5 s after boot.
	cnt := uint64(boot + freq*3/2)
	for _, c := range []int32{ClockMonotonic, ClockMonotonicRaw, ClockMonotonicCoarse, ClockBoottime} {
		ns, ok := v.ClockNS(c, cnt)
		require.True(t, ok)
		require.Equal(t, uint64(1_500_000_000), ns, "clock %d", c)
	}
	for _, c := range []int32{ClockRealtime, ClockRealtimeCoarse} {
		ns, ok := v.ClockNS(c, cnt)
		require.True(t, ok)
		require.Equal(t, uint64(wall+1_500_000_000), ns, "clock %d", c)
	}
	for _, c := range []int32{2, 3, 8, 9, 11, 100, -1, -6} {
		_, ok := v.ClockNS(c, cnt)
		require.False(t, ok, "clock %d", c)
	}

	// No frequency: nothing is served.
	v = New(Params{})
	require.Zero(t, v.ClockMask)
	_, ok := v.ClockNS(ClockMonotonic, 1)
	require.False(t, ok)
}

func TestPublish(t *testing.T) {
	page := new([PageSize]byte)
	v := New(Params{CounterFreq: 24_000_000, BootCounter: 5, RealtimeAtBoot: 99})
	v.Put(page[:])
	next := v
	next.Seq = 12345 // ignored
	next.CycleBase, next.Base[ClockMonotonic] = 1000, 41
	Publish(page, &next)
	got := Decode(page[:])
	require.EqualValues(t, 2, got.Seq)
	got.Seq = next.Seq
	require.Equal(t, next, got)

	page[OffSeq] = 7 // a writer died mid-update: the next one still ends even
	Publish(page, &next)
	require.EqualValues(t, 8, Decode(page[:]).Seq)
}
