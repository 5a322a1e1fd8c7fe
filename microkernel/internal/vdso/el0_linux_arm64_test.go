package vdso

// EL0 tests: the image mapped like armos maps it (data page, then the image
// one page above, at an address mmap picks) and its functions called
// through vdsocall's AAPCS64 trampoline. They run on any linux/arm64: under
// qemu-aarch64-static from TestUnderQEMU on other hosts, or directly with
// GOARCH=arm64 go test -exec qemu-aarch64-static.

import (
	"bytes"
	"debug/elf"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"armos/microkernel/internal/vdso/internal/vdsocall"
	"github.com/stretchr/testify/require"
)

// slack bounds the disagreement between a clock the test calibrated from
// the system call and the system call itself a moment later.
const slack = 2 * time.Millisecond

type timespec struct{ Sec, Nsec int64 }
type timeval struct{ Sec, Usec int64 }
type timezone struct{ Minuteswest, Dsttime int32 }

func (ts *timespec) ns() uint64 { return uint64(ts.Sec)*1e9 + uint64(ts.Nsec) }

// mapping is one copy of the data page and the image.
type mapping struct {
	mem  []byte  // data page, then the image pages
	base uintptr // AT_SYSINFO_EHDR: the image's first byte
	sym  map[string]uintptr
}

// vvar returns the data page (writable only for mapWritable).
func (m *mapping) vvar() *[PageSize]byte { return (*[PageSize]byte)(m.mem[:PageSize]) }

// mapImage maps a data page holding v (nil: all zero) and the image above
// it. The data page stays writable when writable is set (for Publish); the
// image is read + execute. keep leaves the mapping in place after the test.
func mapImage(t testing.TB, v *VVar, writable, keep bool) *mapping {
	size := PageSize + alignUp(len(Image), PageSize)
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	require.NoError(t, err)
	if !keep {
		t.Cleanup(func() { _ = syscall.Munmap(mem) })
	}
	if v != nil {
		v.Put(mem[:PageSize])
	}
	copy(mem[PageSize:], Image)
	m := &mapping{mem: mem, base: uintptr(unsafe.Pointer(&mem[PageSize])), sym: map[string]uintptr{}}
	vdsocall.SyncICache(m.base, uintptr(len(Image)))
	if !writable {
		require.NoError(t, syscall.Mprotect(mem[:PageSize], syscall.PROT_READ))
	}
	require.NoError(t, syscall.Mprotect(mem[PageSize:], syscall.PROT_READ|syscall.PROT_EXEC))

	// Resolve the functions from the mapped bytes, as a loader would.
	f, err := elf.NewFile(bytes.NewReader(mem[PageSize : PageSize+len(Image)]))
	require.NoError(t, err)
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	for _, s := range syms {
		m.sym[s.Name] = m.base + uintptr(s.Value)
	}
	require.Len(t, m.sym, 3)
	return m
}

// call runs fn(a0, a1) in the image and fails the test if it broke a
// register it must keep.
func call(t testing.TB, fn, a0, a1 uintptr) int64 {
	r, clobbered := vdsocall.Call(fn, a0, a1)
	require.Zero(t, clobbered, "callee-saved registers or SP changed")
	return int64(r)
}

func (m *mapping) clockGettime(t testing.TB, clock int32) (uint64, int64) {
	ts := new(timespec)
	r := call(t, m.sym["__kernel_clock_gettime"], uintptr(clock), uintptr(unsafe.Pointer(ts)))
	return ts.ns(), r
}

// sysClockGettime is the real system call: (value, 0) or (0, -errno).
func sysClockGettime(clock int32) (uint64, int64) {
	ts := new(timespec)
	_, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(ts)), 0)
	if e != 0 {
		return 0, -int64(e)
	}
	return ts.ns(), 0
}

func sysNS(t testing.TB, clock int32) uint64 {
	ns, r := sysClockGettime(clock)
	require.Zero(t, r, "clock_gettime(%d)", clock)
	return ns
}

// withinBracket checks lo - slack <= got <= hi + slack.
func withinBracket(t testing.TB, got, lo, hi uint64, msg string) {
	require.GreaterOrEqual(t, got+uint64(slack), lo, "%s: %d is %v before %d", msg, got, time.Duration(lo-got), lo)
	require.LessOrEqual(t, got, hi+uint64(slack), "%s: %d is %v after %d", msg, got, time.Duration(got-hi), hi)
}

// calibrate returns a counter value and the system call's clock at that
// counter value (to within 100 µs), retrying when the thread was held up
// between the reads.
func calibrate(t testing.TB, clock int32) (counter, ns uint64) {
	mult, shift := Scale(vdsocall.Frequency())
	for range 1000 {
		c1 := vdsocall.Counter()
		ns := sysNS(t, clock)
		c2 := vdsocall.Counter()
		if ConvertNS(c2-c1, mult, shift) < 100_000 {
			return c1 + (c2-c1)/2, ns
		}
	}
	t.Fatal("could not read the counter and the clock within 100 µs")
	return 0, 0
}

// bootVVar is Fill's page for this machine's counter: monotonic 0 at the
// counter read now, realtime from the system call.
func bootVVar(t testing.TB) VVar {
	c, wall := calibrate(t, ClockRealtime)
	return New(Params{CounterFreq: vdsocall.Frequency(), BootCounter: c, RealtimeAtBoot: wall})
}

var servedClocks = []int32{ClockRealtime, ClockMonotonic, ClockMonotonicRaw, ClockRealtimeCoarse, ClockMonotonicCoarse, ClockBoottime}

// TestEL0ClockGettime: every served clock equals VVar.ClockNS at a counter
// value read between the counter reads around the call, and CLOCK_REALTIME
// agrees with time.Now.
func TestEL0ClockGettime(t *testing.T) {
	v := bootVVar(t)
	t.Logf("CNTFRQ_EL0 %d Hz: mult %d shift %d", vdsocall.Frequency(), v.Mult, v.Shift)
	m := mapImage(t, &v, false, false)
	for _, clock := range servedClocks {
		for _, garbage := range []uintptr{0, 0xdeadbeef << 32} { // clockid_t is w0 only
			c1 := vdsocall.Counter()
			ts := new(timespec)
			r := call(t, m.sym["__kernel_clock_gettime"], uintptr(clock)|garbage, uintptr(unsafe.Pointer(ts)))
			c2 := vdsocall.Counter()
			require.Zero(t, r, "clock %d", clock)
			require.Less(t, ts.Nsec, int64(1e9))
			lo, _ := v.ClockNS(clock, c1)
			hi, _ := v.ClockNS(clock, c2)
			require.True(t, lo <= ts.ns() && ts.ns() <= hi, "clock %d: %d not in [%d, %d]", clock, ts.ns(), lo, hi)
		}
	}
	before := uint64(time.Now().UnixNano())
	got, r := m.clockGettime(t, ClockRealtime)
	after := uint64(time.Now().UnixNano())
	require.Zero(t, r)
	withinBracket(t, got, before, after, "CLOCK_REALTIME vs time.Now")
}

// TestEL0Arithmetic runs the machine code's 128-bit conversion with the
// Mult/Shift of other counter frequencies (and hand-picked extremes), a
// CycleBase years in the past and odd Base values: the result must be
// exactly VVar.ClockNS.
func TestEL0Arithmetic(t *testing.T) {
	now := vdsocall.Counter()
	type scale struct {
		mult  uint64
		shift uint32
	}
	var scales []scale
	for _, f := range []uint64{62_500_000, 24_000_000, 19_200_000, 1_000_000_000, 1_000_000, 54_000_000, 7, 1<<40 + 1} {
		mult, shift := Scale(f)
		scales = append(scales, scale{mult, shift})
	}
	scales = append(scales, scale{^uint64(0), 63}, scale{3, 1}, scale{1 << 63, 62})
	for _, s := range scales {
		// About five years of ticks at the scale's rate, capped so that the
		// result stays below 2^63 (no wraparound between the bracket ends).
		ticks := uint64(5 * 365 * 24 * 3600 * 1e9 / (float64(s.mult) / float64(uint64(1)<<s.shift)))
		ticks = min(ticks, now)
		v := VVar{ClockMask: ServedClocks, Mult: s.mult, Shift: s.shift, CycleBase: now - ticks, ResolutionNS: 1}
		for i := range v.Base {
			v.Base[i] = uint64(i) * 1_234_567_891
		}
		m := mapImage(t, &v, false, false)
		for _, clock := range []int32{ClockRealtime, ClockMonotonic, ClockBoottime} {
			c1 := vdsocall.Counter()
			got, r := m.clockGettime(t, clock)
			c2 := vdsocall.Counter()
			require.Zero(t, r)
			lo, _ := v.ClockNS(clock, c1)
			hi, _ := v.ClockNS(clock, c2)
			require.True(t, lo <= got && got <= hi, "mult %#x shift %d clock %d: %d not in [%d, %d]", s.mult, s.shift, clock, got, lo, hi)
		}
	}
}

// TestEL0Fallback: clocks the vDSO does not serve, bad clock ids and a
// zeroed data page go to the system call with the caller's arguments.
func TestEL0Fallback(t *testing.T) {
	runtime.LockOSThread() // CLOCK_THREAD_CPUTIME_ID is per thread
	defer runtime.UnlockOSThread()
	v := bootVVar(t)
	m := mapImage(t, &v, false, false)

	// Unserved but valid clocks: the same answer as the system call.
	for _, clock := range []int32{2, 3} { // CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID
		before := sysNS(t, clock)
		got, r := m.clockGettime(t, clock)
		after := sysNS(t, clock)
		require.Zero(t, r, "clock %d", clock)
		withinBracket(t, got, before, after, "CPU-time clock")
	}
	const clockTAI = 11
	before := sysNS(t, clockTAI)
	got, r := m.clockGettime(t, clockTAI)
	after := sysNS(t, clockTAI)
	require.Zero(t, r)
	withinBracket(t, got, before, after, "CLOCK_TAI")

	// Alarm clocks, invalid ids, negative (CPU-time encoding) ids: whatever
	// the system call says, -EINVAL for the bad ones.
	for _, clock := range []int32{8, 9, 10, 12, 15, 16, 100, -1, -6, 1<<31 - 1, -1 << 31} {
		_, want := sysClockGettime(clock)
		_, got := m.clockGettime(t, clock)
		require.Equal(t, want, got, "clock %d", clock)
	}
	for _, clock := range []int32{10, 16, 100, 1<<31 - 1} {
		_, got := m.clockGettime(t, clock)
		require.Equal(t, -int64(syscall.EINVAL), got, "clock %d", clock)
	}

	// An all-zero data page serves nothing: CLOCK_MONOTONIC is the system
	// call's (a served read would be ~0 here).
	zero := mapImage(t, nil, false, false)
	for _, clock := range servedClocks {
		before := sysNS(t, clock)
		got, r := zero.clockGettime(t, clock)
		after := sysNS(t, clock)
		require.Zero(t, r)
		withinBracket(t, got, before, after, "zero page")
	}

	// ClockMask picks the clocks: realtime from the page, the rest not.
	part := v
	part.ClockMask = 1 << ClockRealtime
	part.Base[ClockRealtime] = 42e9
	pm := mapImage(t, &part, false, false)
	got, r = pm.clockGettime(t, ClockRealtime)
	require.Zero(t, r)
	require.Less(t, got, uint64(42e9+3600e9)) // from the page, not 1970+56 years
	before = sysNS(t, ClockMonotonic)
	got, r = pm.clockGettime(t, ClockMonotonic)
	after = sysNS(t, ClockMonotonic)
	require.Zero(t, r)
	withinBracket(t, got, before, after, "unmasked monotonic")
}

func TestEL0ClockGetres(t *testing.T) {
	v := bootVVar(t)
	v.ResolutionNS = 7 // to see that it comes from the page
	m := mapImage(t, &v, false, false)
	fn := m.sym["__kernel_clock_getres"]
	for _, clock := range servedClocks {
		ts := &timespec{Sec: -1, Nsec: -1}
		require.Zero(t, call(t, fn, uintptr(clock), uintptr(unsafe.Pointer(ts))), "clock %d", clock)
		require.Equal(t, timespec{0, 7}, *ts, "clock %d", clock)
		require.Zero(t, call(t, fn, uintptr(clock), 0), "NULL res")
	}
	for _, clock := range []int32{2, 3, 11, 100, -1} {
		want, got := new(timespec), new(timespec)
		_, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETRES, uintptr(clock), uintptr(unsafe.Pointer(want)), 0)
		r := call(t, fn, uintptr(clock), uintptr(unsafe.Pointer(got)))
		require.Equal(t, -int64(e), r, "clock %d", clock)
		require.Equal(t, *want, *got, "clock %d", clock)
	}
	require.Equal(t, -int64(syscall.EINVAL), call(t, fn, 100, 0))
}

func TestEL0Gettimeofday(t *testing.T) {
	v := bootVVar(t)
	m := mapImage(t, &v, false, false)
	fn := m.sym["__kernel_gettimeofday"]

	tv := new(timeval)
	before := uint64(time.Now().UnixNano())
	require.Zero(t, call(t, fn, uintptr(unsafe.Pointer(tv)), 0))
	after := uint64(time.Now().UnixNano())
	require.Less(t, tv.Usec, int64(1e6))
	got := uint64(tv.Sec)*1e9 + uint64(tv.Usec)*1e3
	withinBracket(t, got, before-1000, after, "gettimeofday vs time.Now")

	// With a time zone: the system call fills both.
	tz, wantTZ := &timezone{-1, -1}, new(timezone)
	_, _, e := syscall.RawSyscall(syscall.SYS_GETTIMEOFDAY, uintptr(unsafe.Pointer(new(timeval))), uintptr(unsafe.Pointer(wantTZ)), 0)
	require.Zero(t, e)
	before = uint64(time.Now().UnixNano())
	require.Zero(t, call(t, fn, uintptr(unsafe.Pointer(tv)), uintptr(unsafe.Pointer(tz))))
	after = uint64(time.Now().UnixNano())
	require.Equal(t, *wantTZ, *tz)
	withinBracket(t, uint64(tv.Sec)*1e9+uint64(tv.Usec)*1e3, before-1000, after, "gettimeofday with tz")

	require.Zero(t, call(t, fn, 0, 0), "both NULL")

	// Realtime not served: the system call.
	zero := mapImage(t, nil, false, false)
	before = uint64(time.Now().UnixNano())
	require.Zero(t, call(t, zero.sym["__kernel_gettimeofday"], uintptr(unsafe.Pointer(tv)), 0))
	after = uint64(time.Now().UnixNano())
	withinBracket(t, uint64(tv.Sec)*1e9+uint64(tv.Usec)*1e3, before-1000, after, "zero page")
	runtime.KeepAlive(tz)
}

// TestEL0PositionIndependent: two copies at different addresses each read
// their own data page.
func TestEL0PositionIndependent(t *testing.T) {
	v1 := bootVVar(t)
	v2 := v1
	v2.Base[ClockRealtime] += 3600e9
	m1 := mapImage(t, &v1, false, false)
	m2 := mapImage(t, &v2, false, false)
	require.NotEqual(t, m1.base, m2.base)
	t.Logf("images at %#x and %#x", m1.base, m2.base)
	for _, m := range []*mapping{m1, m2, m1} {
		c1 := vdsocall.Counter()
		got, r := m.clockGettime(t, ClockRealtime)
		c2 := vdsocall.Counter()
		require.Zero(t, r)
		v := Decode(m.mem[:PageSize])
		lo, _ := v.ClockNS(ClockRealtime, c1)
		hi, _ := v.ClockNS(ClockRealtime, c2)
		require.True(t, lo <= got && got <= hi)
	}
}

// TestEL0Seqlock: while Publish flips the page between two states, every
// read is consistent with one of them (never a mix).
//
// A reader spins inside the vDSO while Seq is odd, where Go cannot preempt
// it. If the writer goroutine were descheduled mid-update with every P held
// by a spinning reader, or a GC stop-the-world waited for those readers, the
// test would deadlock; so GC is off and there is a P to spare. (armos's
// writer is the kernel, which EL0 code cannot hold up.)
func TestEL0Seqlock(t *testing.T) {
	const readers = 2
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(readers + 2))
	a := bootVVar(t)
	b := a
	b.Mult, b.Shift = Scale(24_000_000)
	for i := range b.Base {
		b.Base[i] += 1e15
	}
	m := mapImage(t, &a, true, false)
	page := m.vvar()

	var stop atomic.Bool
	var wg sync.WaitGroup
	var flips atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Pause between updates so that readers get through (a reader
		// retries for as long as updates overlap it).
		pause := func() {
			for c := vdsocall.Counter(); vdsocall.Counter()-c < 200; {
			}
		}
		for !stop.Load() {
			Publish(page, &b)
			pause()
			Publish(page, &a)
			pause()
			flips.Add(2)
		}
	}()
	var reads atomic.Int64
	errs := make(chan string, 4)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts := new(timespec)
			for !stop.Load() {
				c1 := vdsocall.Counter()
				r, clobbered := vdsocall.Call(m.sym["__kernel_clock_gettime"], ClockMonotonic, uintptr(unsafe.Pointer(ts)))
				c2 := vdsocall.Counter()
				reads.Add(1)
				got := ts.ns()
				aLo, _ := a.ClockNS(ClockMonotonic, c1)
				aHi, _ := a.ClockNS(ClockMonotonic, c2)
				bLo, _ := b.ClockNS(ClockMonotonic, c1)
				bHi, _ := b.ClockNS(ClockMonotonic, c2)
				if r != 0 || clobbered != 0 || !(aLo <= got && got <= aHi || bLo <= got && got <= bHi) {
					errs <- fmt.Sprintf("inconsistent read: %d (r %d, clobbered %#x), not in [%d, %d] nor [%d, %d]",
						got, int64(r), clobbered, aLo, aHi, bLo, bHi)
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	t.Logf("%d reads during %d updates", reads.Load(), flips.Load())
	require.Positive(t, reads.Load())
	require.EqualValues(t, 2*flips.Load(), Decode(m.mem[:PageSize]).Seq)
}

// Benchmarks: the vDSO against a plain Go call and the system call.

//go:noinline
func goFunc(a, b uintptr) uintptr { return a ^ b }

func BenchmarkGoFuncCall(b *testing.B) {
	var sink uintptr
	for i := 0; b.Loop(); i++ {
		sink += goFunc(uintptr(i), 1)
	}
	runtime.KeepAlive(sink)
}

func BenchmarkVDSOClockGettime(b *testing.B) {
	v := bootVVar(b)
	m := mapImage(b, &v, false, false)
	fn, ts := m.sym["__kernel_clock_gettime"], new(timespec)
	for b.Loop() {
		vdsocall.CallFast(fn, ClockMonotonic, uintptr(unsafe.Pointer(ts)))
	}
	runtime.KeepAlive(ts)
}

func BenchmarkVDSOFallbackSyscall(b *testing.B) {
	v := bootVVar(b)
	m := mapImage(b, &v, false, false)
	fn, ts := m.sym["__kernel_clock_gettime"], new(timespec)
	for b.Loop() {
		vdsocall.CallFast(fn, 2, uintptr(unsafe.Pointer(ts))) // CLOCK_PROCESS_CPUTIME_ID
	}
	runtime.KeepAlive(ts)
}

func BenchmarkSyscallClockGettime(b *testing.B) {
	ts := new(timespec)
	for b.Loop() {
		syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, ClockMonotonic, uintptr(unsafe.Pointer(ts)), 0)
	}
	runtime.KeepAlive(ts)
}

func BenchmarkTimeNow(b *testing.B) {
	var sink int64
	for b.Loop() {
		sink += time.Now().UnixNano()
	}
	runtime.KeepAlive(sink)
}
