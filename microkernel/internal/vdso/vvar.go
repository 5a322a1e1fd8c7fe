package vdso

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// PageSize is the granule the image and the data page are mapped with. The
// data page (vvar) sits at AT_SYSINFO_EHDR - PageSize.
const PageSize = 4096

// Clock IDs (include/uapi/linux/time.h) the vDSO can serve from the counter.
const (
	ClockRealtime        = 0
	ClockMonotonic       = 1
	ClockMonotonicRaw    = 4
	ClockRealtimeCoarse  = 5
	ClockMonotonicCoarse = 6
	ClockBoottime        = 7

	// NumClocks bounds the clock IDs the vDSO looks at: larger (and
	// negative, CPU-time) IDs always go to the system call.
	NumClocks = 8

	// ServedClocks is the ClockMask Fill sets: the six clocks above.
	ServedClocks = 1<<ClockRealtime | 1<<ClockMonotonic | 1<<ClockMonotonicRaw |
		1<<ClockRealtimeCoarse | 1<<ClockMonotonicCoarse | 1<<ClockBoottime
)

// Byte offsets of the VVar fields in the data page (little-endian). The
// machine code in the image hard-codes them; TestVVarLayout ties them to
// the struct.
const (
	OffSeq        = 0  // uint32
	OffClockMask  = 4  // uint32
	OffMult       = 8  // uint64
	OffCycleBase  = 16 // uint64
	OffShift      = 24 // uint32
	OffResolution = 28 // uint32
	OffBase       = 32 // [NumClocks]uint64
	VVarLen       = OffBase + 8*NumClocks
)

// VVar is the layout of the data page the kernel maps read-only below the
// image. On arm64 (little-endian, naturally aligned) the struct's memory
// layout is the page's byte layout, so the kernel may also view the page as
// a *VVar; Put writes the same bytes on any host.
//
// Clock id n (n < NumClocks, bit n of ClockMask set) reads
//
//	ns = Base[n] + ConvertNS(CNTVCT_EL0 - CycleBase, Mult, Shift)
//
// with wrapping uint64 arithmetic, returned as a timespec {ns / 1e9, ns % 1e9}.
// ClockNS computes exactly this, so a kernel that answers clock_gettime from
// the same VVar agrees with the vDSO to the nanosecond.
//
// Seq is a sequence lock for later updates (Publish): the writer makes it odd,
// changes the fields, then makes it even again; readers retry while it is odd
// or when it changed across their reads. Fill's initial contents use Seq 0.
type VVar struct {
	Seq          uint32            // sequence lock: odd while an update is under way
	ClockMask    uint32            // bit n: clock id n is served from the counter; others use the syscall
	Mult         uint64            // ns = ticks*Mult >> Shift (128-bit product)
	CycleBase    uint64            // counter value the Base values refer to
	Shift        uint32            // 0..63
	ResolutionNS uint32            // what clock_getres reports for the served clocks
	Base         [NumClocks]uint64 // clock n in ns when the counter read CycleBase
}

// Params describe the clocks when the kernel boots.
type Params struct {
	// CounterFreq is CNTFRQ_EL0 in Hz (62.5 MHz on QEMU virt). 0 leaves
	// ClockMask 0: every call goes to the system call.
	CounterFreq uint64
	// BootCounter is the counter value at which CLOCK_MONOTONIC (and
	// BOOTTIME, MONOTONIC_RAW, MONOTONIC_COARSE) read 0. Pass the counter
	// read at boot for Linux's "time since boot", or 0 to keep the kernel's
	// current convention (monotonic = the whole counter converted to ns).
	BootCounter uint64
	// RealtimeAtBoot is CLOCK_REALTIME, in ns since 1970, when the counter
	// read BootCounter (with BootCounter 0: the kernel's realtimeBase).
	RealtimeAtBoot uint64
}

// Scale returns the mult and shift that turn counter ticks at freq Hz into
// nanoseconds: ns = ticks*mult >> shift. The ratio is exact whenever
// 1e9/freq is a dyadic fraction (62.5 MHz gives mult 16, shift 0; 1 GHz
// gives 1, 0); otherwise shift is the largest that keeps mult in 64 bits,
// so the result is within 1 ns of ticks*1e9/freq for about 290 years of
// ticks. freq 0 returns 0, 0.
func Scale(freq uint64) (mult uint64, shift uint32) {
	if freq == 0 {
		return 0, 0
	}
	const nsPerSec = 1_000_000_000
	for s := uint32(63); ; s-- {
		// mult = floor(1e9 * 2^s / freq), a 128-bit dividend hi:lo.
		hi, lo := uint64(0), uint64(nsPerSec)<<s
		if s > 0 {
			hi = nsPerSec >> (64 - s)
		}
		if hi < freq { // the quotient fits in 64 bits
			q, r := bits.Div64(hi, lo, freq)
			if r == 0 { // exact: use the smallest equivalent shift
				for s > 0 && q&1 == 0 {
					q >>= 1
					s--
				}
			}
			return q, s
		}
	}
}

// ConvertNS returns ticks*mult >> shift, with the full 128-bit product,
// truncated to 64 bits, exactly as the vDSO computes it (MUL, UMULH, then
// lo>>shift | hi<<1<<(63-shift)). shift must be at most 63.
//
//go:nosplit
func ConvertNS(ticks, mult uint64, shift uint32) uint64 {
	hi, lo := bits.Mul64(ticks, mult)
	s := shift & 63 // LSRV and LSLV use the low 6 bits of the shift register
	return lo>>s | hi<<1<<(63-s)
}

// New returns the initial VVar for p: the six ServedClocks, resolution
// 1 ns (what Linux reports for its high-resolution clocks), the monotonic
// clocks 0 and the realtime clocks RealtimeAtBoot at BootCounter.
func New(p Params) VVar {
	mult, shift := Scale(p.CounterFreq)
	v := VVar{
		Mult:         mult,
		Shift:        shift,
		CycleBase:    p.BootCounter,
		ResolutionNS: 1,
	}
	if p.CounterFreq != 0 {
		v.ClockMask = ServedClocks
	}
	v.Base[ClockRealtime] = p.RealtimeAtBoot
	v.Base[ClockRealtimeCoarse] = p.RealtimeAtBoot
	return v
}

// ClockNS returns clock's value in ns at counter value counter, computed as
// the vDSO does; ok is false for the clocks the vDSO leaves to the system
// call (clock >= NumClocks, negative, or not in ClockMask).
//
//go:nosplit
func (v *VVar) ClockNS(clock int32, counter uint64) (ns uint64, ok bool) {
	if uint32(clock) >= NumClocks || v.ClockMask>>uint32(clock)&1 == 0 {
		return 0, false
	}
	return v.Base[clock] + ConvertNS(counter-v.CycleBase, v.Mult, v.Shift), true
}

// Put writes v into the first VVarLen bytes of page (little-endian) with
// plain stores: for a page no process has mapped yet. Later changes go
// through Publish.
func (v *VVar) Put(page []byte) {
	le := binary.LittleEndian
	_ = page[VVarLen-1]
	le.PutUint32(page[OffSeq:], v.Seq)
	le.PutUint32(page[OffClockMask:], v.ClockMask)
	le.PutUint64(page[OffMult:], v.Mult)
	le.PutUint64(page[OffCycleBase:], v.CycleBase)
	le.PutUint32(page[OffShift:], v.Shift)
	le.PutUint32(page[OffResolution:], v.ResolutionNS)
	for i, b := range v.Base {
		le.PutUint64(page[OffBase+8*i:], b)
	}
}

// Decode reads a VVar from the first VVarLen bytes of page.
func Decode(page []byte) VVar {
	le := binary.LittleEndian
	_ = page[VVarLen-1]
	v := VVar{
		Seq:          le.Uint32(page[OffSeq:]),
		ClockMask:    le.Uint32(page[OffClockMask:]),
		Mult:         le.Uint64(page[OffMult:]),
		CycleBase:    le.Uint64(page[OffCycleBase:]),
		Shift:        le.Uint32(page[OffShift:]),
		ResolutionNS: le.Uint32(page[OffResolution:]),
	}
	for i := range v.Base {
		v.Base[i] = le.Uint64(page[OffBase+8*i:])
	}
	return v
}

// Fill writes the initial data page for p (see New) into page, which the
// kernel then maps read-only at AT_SYSINFO_EHDR - PageSize, and returns the
// VVar so the kernel's own clock_gettime can use the same numbers
// (VVar.ClockNS).
func Fill(page []byte, p Params) VVar {
	v := New(p)
	v.Put(page)
	return v
}

// Publish replaces the contents of a data page that processes may be
// reading, as a seqlock writer: Seq becomes odd, the fields are stored, then
// Seq becomes the next even number. Every store is an
// atomic store-release, so no reader sees the new fields with an even Seq it
// did not start from. v.Seq is ignored. Writers must be serialised by the
// caller; the page must be 8-byte aligned (a page frame is) and little-endian
// (arm64). Readers spin while Seq is odd, so the kernel must not return to
// EL0 (on this CPU, or wait for EL0 elsewhere) in the middle of a Publish:
// call it with interrupts masked or otherwise non-preemptible.
func Publish(page *[PageSize]byte, v *VVar) {
	u32 := func(off int) *uint32 { return (*uint32)(unsafe.Pointer(&page[off])) }
	u64 := func(off int) *uint64 { return (*uint64)(unsafe.Pointer(&page[off])) }
	seq := atomic.LoadUint32(u32(OffSeq)) | 1 // odd, even if a writer died mid-update
	atomic.StoreUint32(u32(OffSeq), seq)
	atomic.StoreUint32(u32(OffClockMask), v.ClockMask)
	atomic.StoreUint64(u64(OffMult), v.Mult)
	atomic.StoreUint64(u64(OffCycleBase), v.CycleBase)
	atomic.StoreUint32(u32(OffShift), v.Shift)
	atomic.StoreUint32(u32(OffResolution), v.ResolutionNS)
	for i, b := range v.Base {
		atomic.StoreUint64(u64(OffBase+8*i), b)
	}
	atomic.StoreUint32(u32(OffSeq), seq+1)
}
