//go:build vdsoruntime

package vdso

// TestRuntimeUsesImage hands the image to the Go runtime's own vDSO parser
// (runtime.vdsoauxv, what the runtime runs for AT_SYSINFO_EHDR at startup)
// and then lets time.Now and nanotime go through it, with the runtime's own
// calling sequence. Reaching runtime internals needs
// -ldflags=-checklinkname=0, hence the build tag; TestUnderQEMU builds it so
// and runs it in a qemu-aarch64-static process of its own, since it leaves
// the runtime pointing at this image.

import (
	"io"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
	_ "unsafe" // go:linkname

	"armos/microkernel/internal/vdso/internal/vdsocall"
	"github.com/stretchr/testify/require"
)

const atSysinfoEhdr = 33

//go:linkname runtimeVDSOAuxv runtime.vdsoauxv
func runtimeVDSOAuxv(tag, val uintptr)

//go:linkname runtimeClockgettimeSym runtime.vdsoClockgettimeSym
var runtimeClockgettimeSym uintptr

//go:linkname runtimeNanotime runtime.nanotime
func runtimeNanotime() int64

func TestRuntimeUsesImage(t *testing.T) {
	// A page whose clocks continue the system call's, so that handing it to
	// the runtime moves neither clock (monotonic a little forward).
	c, mono := calibrate(t, ClockMonotonic)
	cw, wall := calibrate(t, ClockRealtime)
	v := New(Params{CounterFreq: vdsocall.Frequency(), BootCounter: c})
	for _, clock := range servedClocks {
		v.Base[clock] = mono
	}
	wall -= ConvertNS(cw-c, v.Mult, v.Shift) // realtime at counter c
	v.Base[ClockRealtime], v.Base[ClockRealtimeCoarse] = wall, wall
	m := mapImage(t, &v, true, true) // kept: the runtime will point into it

	t.Logf("runtime's vdsoClockgettimeSym before: %#x", runtimeClockgettimeSym)
	runtimeVDSOAuxv(atSysinfoEhdr, m.base)
	require.Equal(t, m.sym["__kernel_clock_gettime"], runtimeClockgettimeSym,
		"the runtime's parser did not resolve __kernel_clock_gettime@LINUX_2.6.39 in the image at %#x", m.base)

	checkWall := func(offset time.Duration) {
		before := sysNS(t, ClockRealtime) + uint64(offset)
		got := uint64(time.Now().UnixNano())
		after := sysNS(t, ClockRealtime) + uint64(offset)
		withinBracket(t, got, before, after, "time.Now")
	}
	checkMono := func(offset time.Duration) {
		before := sysNS(t, ClockMonotonic) + uint64(offset)
		got := uint64(runtimeNanotime())
		after := sysNS(t, ClockMonotonic) + uint64(offset)
		withinBracket(t, got, before, after, "nanotime")
	}
	checkWall(0)
	checkMono(0)

	// Prove the runtime reads this image: move its clocks and watch
	// time.Now and nanotime follow. (Monotonic only forward.) While Seq is
	// odd every nanotime spins in the image; GC off and spare Ps keep a
	// stop-the-world or a full set of spinning Ps from stranding this
	// goroutine mid-Publish (see TestEL0Seqlock).
	gc := debug.SetGCPercent(-1)
	procs := runtime.GOMAXPROCS(8)
	v.Base[ClockRealtime] += uint64(24 * time.Hour)
	v.Base[ClockMonotonic] += uint64(time.Second)
	Publish(m.vvar(), &v)
	checkWall(24 * time.Hour)
	checkMono(time.Second)
	v.Base[ClockRealtime] -= uint64(24 * time.Hour)
	Publish(m.vvar(), &v)
	checkWall(0)
	runtime.GOMAXPROCS(procs)
	debug.SetGCPercent(gc)

	// Load: goroutines reading the clock in tight loops (so preemption
	// signals land inside the image), timers, GC and the CPU profiler's
	// SIGPROF (traceback through the runtime's vdsoPC/vdsoSP).
	require.NoError(t, pprof.StartCPUProfile(io.Discard))
	var wg sync.WaitGroup
	deadline := time.Now().Add(500 * time.Millisecond)
	errs := make(chan string, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := time.Now()
			for n := 0; ; n++ {
				now := time.Now()
				if now.Before(last) {
					errs <- "time.Now went backwards"
					return
				}
				last = now
				if now.After(deadline) {
					return
				}
				if n%10000 == 0 {
					runtime.GC()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			start := time.Now()
			time.Sleep(2 * time.Millisecond)
			if d := time.Since(start); d < 2*time.Millisecond {
				errs <- "time.Sleep returned early: " + d.String()
				return
			}
		}
	}()
	wg.Wait()
	pprof.StopCPUProfile()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	checkWall(0)
	checkMono(time.Second)
}
