package proc

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"time"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// The system call table of user processes: Linux arm64 numbers
// (include/uapi/asm-generic/unistd.h) to handlers. It covers what a static
// Go program's runtime calls at start and exit; anything else returns
// -ENOSYS and is named once on the console. Handlers reach user memory only
// through the process's mm.AddressSpace (CopyIn/CopyOut).

// Linux errno values.
const (
	eNOENT    = 2
	eBADF     = 9
	eAGAIN    = 11
	eNOMEM    = 12
	eFAULT    = 14
	eNODEV    = 19
	eINVAL    = 22
	eNOTTY    = 25
	eNOSYS    = 38
	eTIMEDOUT = 110
)

// maxWrite bounds one write(2) copied out of the process (a longer one is
// a short write, as Linux allows).
const maxWrite = 64 << 10

// sysFn handles one call; it returns the result (or -errno) and false when
// the calling thread has ended.
type sysFn func(t *thread, a *[6]uint64) (uint64, bool)

// sysEntry is a row of the table.
type sysEntry struct {
	name string
	fn   sysFn
}

var sysTable map[uint64]sysEntry

func init() {
	sysTable = map[uint64]sysEntry{
		25:  {"fcntl", ret(0)},
		29:  {"ioctl", ret(neg(eNOTTY))},
		56:  {"openat", ret(neg(eNOENT))},
		57:  {"close", ret(0)},
		63:  {"read", ret(0)}, // fd 0 is at end of file
		64:  {"write", sysWrite},
		93:  {"exit", sysExit},
		94:  {"exit_group", sysExitGroup},
		98:  {"futex", sysFutex},
		101: {"nanosleep", sysNanosleep},
		113: {"clock_gettime", sysClockGettime},
		123: {"sched_getaffinity", sysAffinity},
		124: {"sched_yield", func(*thread, *[6]uint64) (uint64, bool) { runtime.Gosched(); return 0, true }},
		130: {"tkill", ret(0)},  // signals are not delivered yet
		131: {"tgkill", ret(0)}, // (GODEBUG=asyncpreemptoff=1)
		132: {"sigaltstack", sysSigaltstack},
		134: {"rt_sigaction", sysSigaction},
		135: {"rt_sigprocmask", sysSigprocmask},
		172: {"getpid", func(t *thread, _ *[6]uint64) (uint64, bool) { return uint64(t.p.pid), true }},
		174: {"getuid", ret(0)},
		175: {"geteuid", ret(0)},
		176: {"getgid", ret(0)},
		177: {"getegid", ret(0)},
		178: {"gettid", func(t *thread, _ *[6]uint64) (uint64, bool) { return uint64(t.tid), true }},
		215: {"munmap", sysMunmap},
		220: {"clone", sysClone},
		222: {"mmap", sysMmap},
		226: {"mprotect", sysMprotect},
		233: {"madvise", sysMadvise},
		// known and refused quietly: the Go runtime copes with ENOSYS
		167: {"prctl", ret(neg(eNOSYS))},
		261: {"prlimit64", ret(neg(eNOSYS))},
		278: {"getrandom", ret(neg(eNOSYS))},
	}
}

// neg encodes -e.
func neg(e int) uint64 { return uint64(-int64(e)) }

// ret returns a handler that always returns v.
func ret(v uint64) sysFn { return func(*thread, *[6]uint64) (uint64, bool) { return v, true } }

// syscall serves the SVC in t.uc; it returns false when the thread ended.
func (t *thread) syscall() bool {
	r := &t.uc.Regs
	nr := r.X[8]
	t.p.syscalls.Add(1)
	a := [6]uint64{r.X[0], r.X[1], r.X[2], r.X[3], r.X[4], r.X[5]}
	e, ok := sysTable[nr]
	if !ok {
		if nr < uint64(len(t.p.nosys)) && !t.p.nosys[nr] {
			t.p.nosys[nr] = true
			fmt.Printf("process %s: syscall %d not implemented: ENOSYS\n", t.p.Name, nr)
		}
		r.X[0] = neg(eNOSYS)
		return true
	}
	v, alive := e.fn(t, &a)
	r.X[0] = v
	return alive
}

// copyIn and copyOut move bytes between the kernel and the process.
func (t *thread) copyIn(dst []byte, va uint64) bool {
	var e mm.Errno
	runGuarded(func() { _, e = t.p.as.CopyIn(dst, va) })
	return e == mm.OK
}

func (t *thread) copyOut(va uint64, src []byte) bool {
	var e mm.Errno
	runGuarded(func() { _, e = t.p.as.CopyOut(va, src) })
	return e == mm.OK
}

func sysWrite(t *thread, a *[6]uint64) (uint64, bool) {
	if a[0] != 1 && a[0] != 2 {
		return neg(eBADF), true
	}
	n := min(a[2], maxWrite)
	buf := make([]byte, n)
	if !t.copyIn(buf, a[1]) {
		return neg(eFAULT), true
	}
	t.p.out.Write(buf)
	return n, true
}

func sysExit(t *thread, a *[6]uint64) (uint64, bool) { return 0, false }

func sysExitGroup(t *thread, a *[6]uint64) (uint64, bool) {
	t.p.exit(int(a[0]&0xff), "")
	return 0, false
}

// timespec reads a struct timespec as a duration; ok false on a bad pointer.
func (t *thread) timespec(va uint64) (time.Duration, bool) {
	var b [16]byte
	if !t.copyIn(b[:], va) {
		return 0, false
	}
	s, ns := int64(binary.LittleEndian.Uint64(b[:])), int64(binary.LittleEndian.Uint64(b[8:]))
	return time.Duration(s)*time.Second + time.Duration(ns), true
}

func sysNanosleep(t *thread, a *[6]uint64) (uint64, bool) {
	d, ok := t.timespec(a[0])
	if !ok {
		return neg(eFAULT), true
	}
	select {
	case <-time.After(d):
	case <-t.p.done:
	}
	return 0, true
}

func sysClockGettime(t *thread, a *[6]uint64) (uint64, bool) {
	var ns int64
	if a[0] == 0 { // CLOCK_REALTIME
		ns = time.Now().UnixNano()
	} else { // monotonic and the rest: since the process started
		ns = int64(time.Since(t.p.start)) + 1
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(ns/1e9))
	binary.LittleEndian.PutUint64(b[8:], uint64(ns%1e9))
	if !t.copyOut(a[1], b[:]) {
		return neg(eFAULT), true
	}
	return 0, true
}

// sysAffinity reports one CPU (GOMAXPROCS=1 in the process).
func sysAffinity(t *thread, a *[6]uint64) (uint64, bool) {
	if a[1] < 8 {
		return neg(eINVAL), true
	}
	var b [8]byte
	b[0] = 1
	if !t.copyOut(a[2], b[:]) {
		return neg(eFAULT), true
	}
	return 8, true
}

func sysSigaltstack(t *thread, a *[6]uint64) (uint64, bool) {
	if a[1] != 0 {
		var b [24]byte
		binary.LittleEndian.PutUint32(b[8:], 2) // SS_DISABLE
		if !t.copyOut(a[1], b[:]) {
			return neg(eFAULT), true
		}
	}
	return 0, true
}

func sysSigaction(t *thread, a *[6]uint64) (uint64, bool) {
	sig := a[0]
	if sig == 0 || sig >= uint64(len(t.p.sigs)) {
		return neg(eINVAL), true
	}
	var b [32]byte
	if a[2] != 0 {
		t.p.mu.Lock()
		for i, v := range t.p.sigs[sig] {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
		t.p.mu.Unlock()
		if !t.copyOut(a[2], b[:]) {
			return neg(eFAULT), true
		}
	}
	if a[1] != 0 {
		if !t.copyIn(b[:], a[1]) {
			return neg(eFAULT), true
		}
		t.p.mu.Lock()
		for i := range t.p.sigs[sig] {
			t.p.sigs[sig][i] = binary.LittleEndian.Uint64(b[8*i:])
		}
		t.p.mu.Unlock()
	}
	return 0, true
}

func sysSigprocmask(t *thread, a *[6]uint64) (uint64, bool) {
	if a[2] != 0 {
		var b [8]byte
		if !t.copyOut(a[2], b[:]) {
			return neg(eFAULT), true
		}
	}
	return 0, true
}

// clone flags.
const (
	cloneVM     = 0x100
	cloneThread = 0x10000
	cloneSetTLS = 0x80000
)

func sysClone(t *thread, a *[6]uint64) (uint64, bool) {
	flags, stack := a[0], a[1]
	if flags&(cloneVM|cloneThread) != cloneVM|cloneThread || stack == 0 {
		return neg(eINVAL), true
	}
	uc := *t.uc
	uc.Regs.X[0] = 0
	uc.Regs.SP = stack
	if flags&cloneSetTLS != 0 {
		uc.TLS = a[3]
	}
	return uint64(t.p.spawn(&uc)), true
}

// mmap flags.
const (
	mapFixed = 0x10
	mapAnon  = 0x20
)

func sysMmap(t *thread, a *[6]uint64) (uint64, bool) {
	addr, length, prot, flags := a[0], a[1], a[2], a[3]
	if flags&mapAnon == 0 {
		return neg(eNODEV), true
	}
	if length == 0 || prot > 7 || length > UserLimit {
		return neg(eINVAL), true
	}
	var (
		va, zapped uint64
		e          mm.Errno
	)
	runGuarded(func() {
		va, zapped, e = t.p.as.Mmap(addr, pageUp(length), mm.Prot(prot), 0, flags&mapFixed != 0)
	})
	if zapped != 0 {
		arch.FlushTLB()
	}
	if e != mm.OK {
		return neg(eNOMEM), true
	}
	return va, true
}

func sysMunmap(t *thread, a *[6]uint64) (uint64, bool) {
	return t.zap(func() (uint64, mm.Errno) { return t.p.as.Munmap(a[0], pageUp(a[1])) })
}

func sysMprotect(t *thread, a *[6]uint64) (uint64, bool) {
	if a[2] > 7 {
		return neg(eINVAL), true
	}
	return t.zap(func() (uint64, mm.Errno) { return t.p.as.Mprotect(a[0], pageUp(a[1]), mm.Prot(a[2])) })
}

func sysMadvise(t *thread, a *[6]uint64) (uint64, bool) {
	if a[2] != 4 { // only MADV_DONTNEED does anything
		return 0, true
	}
	return t.zap(func() (uint64, mm.Errno) { return t.p.as.MadviseDontneed(a[0], pageUp(a[1])) })
}

// zap runs an mm call that may remove pages, then invalidates the TLB.
func (t *thread) zap(fn func() (uint64, mm.Errno)) (uint64, bool) {
	var (
		n uint64
		e mm.Errno
	)
	runGuarded(func() { n, e = fn() })
	if n != 0 {
		arch.FlushTLB()
	}
	if e != mm.OK {
		return neg(eINVAL), true
	}
	return 0, true
}
