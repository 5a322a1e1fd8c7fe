package guesttest

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// benchBoot boots the kernel (no self-tests) b.N times on memMiB and
// reports QEMU-start-to-ready wall time and the kernel's own boot time
// (entry to ready, from its ready line), each as mean and median (the
// median resists a run slowed by a busy host), and memory in use after
// boot.
func benchBoot(b *testing.B, memMiB int) {
	k := kernel(b)
	wall := make([]time.Duration, 0, b.N)
	inKernel := make([]time.Duration, 0, b.N)
	var inUse int
	for i := 0; i < b.N; i++ {
		res, err := Run(k, Machine{MemoryMiB: memMiB}, DefaultTimeout)
		if err != nil || res.TimedOut || res.ReadyAfter == 0 {
			b.Fatalf("boot failed (timed out %v): %v\n%s", res.TimedOut, err, res.Output)
		}
		s, _ := ParseReady(res.Output)
		wall = append(wall, res.ReadyAfter)
		inKernel = append(inKernel, time.Duration(s.BootMS*float64(time.Millisecond)))
		inUse = s.InUseKiB
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	// The means keep the names the Linux reference (linuxref) reports too.
	b.ReportMetric(ms(sum(wall))/float64(b.N), "ms-qemu-start-to-ready")
	b.ReportMetric(ms(median(wall)), "ms-qemu-start-to-ready-median")
	b.ReportMetric(ms(sum(inKernel))/float64(b.N), "ms-entry-to-ready")
	b.ReportMetric(ms(median(inKernel)), "ms-entry-to-ready-median")
	b.ReportMetric(float64(inUse), "KiB-in-use")
}

// sum adds up ds.
func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// median returns the middle value of ds (the mean of the two middle ones
// for an even count); ds is sorted in place.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// BenchmarkBoot128M measures boot at -m 128M.
func BenchmarkBoot128M(b *testing.B) { benchBoot(b, 128) }

// BenchmarkBoot512M measures boot at -m 512M.
func BenchmarkBoot512M(b *testing.B) { benchBoot(b, 512) }

// BenchmarkMinMemory finds the smallest -m (in MiB) the kernel boots to
// "ready" and powers off cleanly with, by bisection between 4 and 128.
func BenchmarkMinMemory(b *testing.B) {
	k := kernel(b)
	boots := func(mem int) bool {
		// Below the image size QEMU cannot load the kernel and nothing is
		// printed: a short timeout keeps such probes cheap.
		res, err := Run(k, Machine{MemoryMiB: mem}, 60*time.Second)
		return err == nil && !res.TimedOut && res.ReadyAfter != 0 && !containsFail(res.Output)
	}
	var lo, hi int
	for i := 0; i < b.N; i++ {
		lo, hi = 4, 128 // lo may fail, hi must boot
		if !boots(hi) {
			b.Fatalf("does not boot with %d MiB", hi)
		}
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if boots(mid) {
				hi = mid
			} else {
				lo = mid
			}
		}
	}
	b.ReportMetric(float64(hi), "MiB-min")
}

func containsFail(out string) bool { return strings.Contains(out, FailMarker) }
