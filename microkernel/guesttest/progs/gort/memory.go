package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"armos/microkernel/guesttest/progs/check"
)

// sink keeps allocations reachable long enough that the compiler cannot
// drop them.
var sink []byte

// checkGC: allocating far more than is live makes the collector run and
// give the garbage back, and leaves the live data intact.
func checkGC(t *check.T) {
	const (
		mib      = 1 << 20
		live     = 16       // MiB kept reachable
		total    = 256      // MiB allocated in all
		chunk    = 64 << 10 // bytes per garbage allocation
		maxAfter = 96 * mib // heap in use after the final GC
	)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	kept := make([][]byte, live)
	for i := range kept {
		kept[i] = make([]byte, mib)
		for j := range kept[i] {
			kept[i][j] = byte(i*31 + j)
		}
	}
	for i := range total * mib / chunk {
		b := make([]byte, chunk)
		b[0], b[chunk-1] = byte(i), byte(i)
		sink = b
	}
	sink = nil
	runtime.GC()

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.NumGC <= before.NumGC {
		t.Errorf("NumGC did not grow: %d before, %d after", before.NumGC, after.NumGC)
	}
	if after.HeapAlloc > maxAfter {
		t.Errorf("HeapAlloc = %d MiB after the final GC with %d MiB live", after.HeapAlloc/mib, live)
	}
	for i := range kept {
		for j, v := range kept[i] {
			if v != byte(i*31+j) {
				t.Fatalf("live block %d byte %d = %#x, want %#x", i, j, v, byte(i*31+j))
			}
		}
	}
	t.Logf("%d GCs, heap %d MiB in use, %d MiB from the OS",
		after.NumGC-before.NumGC, after.HeapAlloc/mib, after.Sys/mib)
}

// checkPreempt: with a single P, a goroutine spinning in a loop without
// function calls neither starves other goroutines nor blocks a GC's
// stop-the-world; both need asynchronous preemption (SIGURG sent with
// tgkill, delivered while the spinner runs in user mode).
func checkPreempt(t *check.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)

	// If preemption is broken the spinner gives up after limit loops
	// (seconds natively, minutes emulated), turning a hang into a failure.
	const limit = 1 << 33
	var started, stop atomic.Bool
	spins := make(chan uint64)
	go func() {
		started.Store(true)
		n := uint64(0)
		for !stop.Load() && n < limit { // an atomic load is one instruction, not a call
			n++
		}
		spins <- n
	}()
	start := time.Now()
	for !started.Load() {
		runtime.Gosched() // lets the spinner start; only preemption brings us back
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before) // stops the world too
	runtime.GC()
	runtime.ReadMemStats(&after)
	stop.Store(true)
	n := <-spins
	if n >= limit {
		t.Errorf("the spinner was never preempted: it ran to its limit of %d loops", n)
	}
	if after.NumGC <= before.NumGC {
		t.Errorf("NumGC did not grow over runtime.GC")
	}
	t.Logf("spinner looped %d times; GC done after %v", n, time.Since(start))
}

// catch calls f and returns what it panicked with, or nil.
func catch(f func()) (r any) {
	defer func() { r = recover() }()
	f()
	return nil
}

// nilStruct points nowhere; reading a field at an offset faults in the
// first page.
var nilStruct *struct{ a [256]uint64 }

// checkNilDeref: a nil-pointer dereference (a fault at a small address)
// becomes a recoverable runtime.Error.
func checkNilDeref(t *check.T) {
	for _, i := range []int{0, 1, 100} {
		r := catch(func() { sink = append(sink[:0], byte(nilStruct.a[i])) })
		err, ok := r.(runtime.Error)
		if !ok {
			t.Errorf("a[%d] via nil: recovered %T %v, want a runtime.Error", i, r, r)
			continue
		}
		if !strings.Contains(err.Error(), "nil pointer dereference") {
			t.Errorf("a[%d] via nil: error %q does not mention a nil pointer dereference", i, err)
		}
	}
}

// addrError is the runtime.Error of a fault with SetPanicOnFault.
type addrError interface {
	runtime.Error
	Addr() uintptr
}

// mmapPage maps one private anonymous read-write page.
func mmapPage(t *check.T) []byte {
	page, err := syscall.Mmap(-1, 0, syscall.Getpagesize(),
		syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	return page
}

// checkFault makes page inaccessible to access with mprotect(prot), runs
// access with SetPanicOnFault and checks the panic reports address want.
func checkFault(t *check.T, page []byte, prot int, want uintptr, access func()) {
	if err := syscall.Mprotect(page, prot); err != nil {
		t.Fatalf("mprotect(%#x): %v", prot, err)
	}
	old := debug.SetPanicOnFault(true) // applies to this goroutine only
	r := catch(access)
	debug.SetPanicOnFault(old)

	err, ok := r.(addrError)
	switch {
	case r == nil:
		t.Errorf("no fault")
	case !ok:
		t.Errorf("recovered %T %v, want a runtime.Error with an Addr method", r, r)
	case err.Addr() != want:
		t.Errorf("fault address %#x, want %#x (%v)", err.Addr(), want, err)
	}
	if err := syscall.Mprotect(page, syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		t.Fatalf("mprotect back to read-write: %v", err)
	}
}

// checkFaultReadOnly: writing to a read-only page faults (SIGSEGV,
// SEGV_ACCERR) at the page's address; reading it still works.
func checkFaultReadOnly(t *check.T) {
	page := mmapPage(t)
	defer syscall.Munmap(page)
	page[0], page[1] = 0x5a, 0xa5
	base := uintptr(unsafe.Pointer(&page[0]))
	checkFault(t, page, syscall.PROT_READ, base, func() {
		if page[1] != 0xa5 { // reads are allowed
			panic("read-only page reads wrong")
		}
		page[0] = 1
	})
	if page[0] != 0x5a {
		t.Errorf("the faulting write changed the page: %#x", page[0])
	}
	page[0] = 2 // writable again
}

// checkFaultProtNone: reading a PROT_NONE page faults at the address read,
// first at the page's start, then inside it.
func checkFaultProtNone(t *check.T) {
	page := mmapPage(t)
	defer syscall.Munmap(page)
	base := uintptr(unsafe.Pointer(&page[0]))
	for _, off := range []uintptr{0, 0x48} {
		checkFault(t, page, syscall.PROT_NONE, base+off, func() {
			sink = append(sink[:0], page[off])
		})
	}
}

// checkMmap: anonymous mappings are zeroed, keep what is written, lose it
// after madvise(MADV_DONTNEED), and can be unmapped.
func checkMmap(t *check.T) {
	ps := syscall.Getpagesize()
	if ps < 4096 || ps&(ps-1) != 0 {
		t.Errorf("page size %d", ps)
	}
	const pages = 4
	mem, err := syscall.Mmap(-1, 0, pages*ps, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	for i, v := range mem {
		if v != 0 {
			t.Fatalf("fresh anonymous mapping byte %d = %#x", i, v)
		}
	}
	for i := range mem {
		mem[i] = byte(i/ps + 1)
	}
	if err := syscall.Madvise(mem[ps:2*ps], syscall.MADV_DONTNEED); err != nil {
		t.Fatalf("madvise(MADV_DONTNEED): %v", err)
	}
	for i, v := range mem {
		want := byte(i/ps + 1)
		if i/ps == 1 {
			want = 0 // the dropped page reads back zero
		}
		if v != want {
			t.Fatalf("after MADV_DONTNEED on page 1, byte %d = %#x, want %#x", i, v, want)
		}
	}
	if err := syscall.Munmap(mem); err != nil {
		t.Errorf("munmap: %v", err)
	}

	// A shared anonymous mapping keeps its data when made read-only.
	shared, err := syscall.Mmap(-1, 0, ps, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap shared: %v", err)
	}
	shared[ps-1] = 7
	if err := syscall.Mprotect(shared, syscall.PROT_READ); err != nil {
		t.Errorf("mprotect: %v", err)
	}
	if shared[ps-1] != 7 {
		t.Errorf("shared mapping lost its byte")
	}
	if err := syscall.Munmap(shared); err != nil {
		t.Errorf("munmap shared: %v", err)
	}
}
