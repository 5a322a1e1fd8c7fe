package rt

import (
	goruntime "runtime"
	"unsafe"
)

// The kernel lock.
//
// All state of the trap layer — the page allocator, every translation
// table, threads, processes, wait queues, files — is guarded by one kernel
// lock. Trap code holds it implicitly: it runs to completion on the
// exception stack with interrupts masked, and on one CPU nothing else can
// run meanwhile. Ordinary kernel Go code (goroutines: the process loader,
// the reaper, system-call services) takes it with Locked.
//
// The rules for a locked section, which make the lock a real one rather
// than "interrupts happen to be off":
//
//   - it never blocks, never allocates, never makes a system call and never
//     takes a fault (not even a demand-zero fault of the kernel heap: touch
//     the memory it will use beforehand; Locked pre-grows the stack);
//   - it reaches process memory only through the copy helpers that walk
//     the process's tables (never through a user pointer);
//   - it takes no other lock: the kernel lock is the innermost lock of the
//     kernel, below every Go mutex (docs/kernel-locking.md has the order).
//
// Each rule is checked: any exception taken while a locked section runs
// (a system call, which is how allocation and blocking reach the kernel,
// or a fault) stops the kernel with a report naming the rule, instead of
// corrupting what the section was updating. With several CPUs the lock
// becomes a ticket spinlock taken here and at trap entry; the discipline
// above is what makes that change safe.

// klock is the kernel lock's state. held is set while ordinary Go code is
// inside Locked; trap code never sets it (it holds the lock by running).
var klock struct {
	held  bool
	count uint64 // locked sections entered (for tests and statistics)
}

// Locked runs fn holding the kernel lock. fn must follow the rules above.
//
// Masking interrupts keeps the kernel from switching threads, but the Go
// runtime could still switch goroutines inside fn: a goroutine asked to
// yield (sysmon after 10 ms, or a GC phase change) stops at its next
// function prologue and the Go scheduler runs another goroutine on this
// thread, with the lock still held. So Locked enters only when no such
// request is pending; with interrupts masked on the one CPU, nothing can
// make a new one until fn returns.
func Locked(fn func()) {
	touchStack()
	d := maskIRQ()
	for preemptPending() {
		restoreIRQ(d)
		goruntime.Gosched()
		d = maskIRQ()
	}
	if klock.held {
		restoreIRQ(d)
		panic("rt: Locked called while the kernel lock is held")
	}
	klock.held = true
	klock.count++
	start := now()
	fn()
	if d := now() - start; d > masked.max {
		masked.max, masked.kind, masked.nr = d, maskedLocked, uint64(**(**uintptr)(unsafe.Pointer(&fn)))
	}
	klock.held = false
	restoreIRQ(d)
}

// touchStackBytes is the stack a locked section may use: touchStack
// grows the goroutine's stack to hold that much more below the caller and
// touches each page of it, so that code inside Locked neither calls
// morestack (which may allocate) nor takes a demand-zero fault on a fresh
// stack page. It is assembly on arm64 (a 16 KiB frame whose prologue
// grows the stack, then one load per page: a Go array would be zeroed,
// 16 KiB of stores on every Locked); touchStackGo elsewhere.
const touchStackBytes = 16 << 10

// touchStackGo is touchStack in Go.
//
//go:noinline
func touchStackGo() {
	var b [touchStackBytes]byte
	for i := 0; i < len(b); i += pageSize {
		b[i] = 1
	}
	stackSink = b[len(b)-1]
}

var stackSink byte

// lockViolation reports an exception taken inside a locked section and
// stops the kernel: whatever the section was changing is half done.
//
//go:nosplit
func lockViolation(tf *Frame, esr, far uint64) {
	puts("\narmos: kernel lock rule broken: an exception (")
	puts(ecName(esr >> 26))
	puts(") inside a locked section; a locked section must not allocate, block, make system calls or fault\n")
	dumpRegs(tf, esr, far)
	puts(FailMarker)
	puts(" kernel lock violation\n")
	powerOff()
}
