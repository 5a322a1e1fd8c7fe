package proc

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
	"armos/microkernel/internal/rt"
)

// A Process is one running user program: an address space, its threads
// (each served by a kernel goroutine looping over rt.EnterUser) and the
// little state its system calls need. Only one process exists at a time
// for now (ASID 1).
type Process struct {
	Name string
	out  io.Writer // fd 1 and 2

	mu    sync.Mutex       // guards futex and sigs
	as    *mm.AddressSpace // every call on it runs inside rt.WithIRQsOff
	asid  uint16
	futex map[uint64][]chan struct{}
	sigs  [65][4]uint64 // rt_sigaction records, by signal number

	pid      int32
	nextTid  atomic.Int32
	threads  sync.WaitGroup
	done     chan struct{} // closed by exit_group or a fatal fault
	once     sync.Once
	status   int    // exit status, set before done is closed
	reason   string // why the process was killed ("" for exit_group)
	start    time.Time
	nosys    [512]bool // system calls already reported unimplemented
	syscalls atomic.Uint64
}

// thread is one user thread.
type thread struct {
	p   *Process
	tid int32
	uc  *rt.UserContext
}

// processASID is the single process's ASID (0 is the kernel's).
const processASID = 1

// hwcapFPASIMD is the AT_HWCAP given to processes: FP and Advanced SIMD, which
// every ARMv8-A core has (no CPUID: MRS of ID registers is not emulated).
const hwcapFPASIMD = 3

// Result is how a process ended and what it used.
type Result struct {
	Status    int    // exit status; 128+signal when killed
	Reason    string // one line saying why it was killed; "" after exit_group
	Threads   int32  // threads it ever had (clone + 1)
	Syscalls  uint64 // system calls served
	ZeroFills uint64 // demand-zero pages mapped by its faults
}

// Run loads the static ELF file and runs it as process name with argv
// (argv[0] is name) until it exits or is killed. Its output goes to out.
func Run(name string, file []byte, argv []string, out io.Writer) (Result, error) {
	img, err := ParseELF(file)
	if err != nil {
		return Result{}, err
	}
	p := &Process{Name: name, out: out, futex: map[uint64][]chan struct{}{}, pid: 2,
		done: make(chan struct{}), start: time.Now(), asid: processASID}
	p.nextTid.Store(p.pid)
	p.as = new(mm.AddressSpace)
	touch(unsafe.Pointer(p.as), unsafe.Sizeof(*p.as))
	var e mm.Errno
	rt.WithIRQsOff(func() {
		if e = p.as.Init(rt.PhysPages(), UserBase, UserLimit, false); e == mm.OK {
			e = rt.KernelWindow(&p.as.PT)
		}
	})
	if e != mm.OK {
		return Result{}, fmt.Errorf("proc: address space: mm errno %d", e)
	}
	defer p.destroy()
	var rnd [16]byte
	for i := range rnd {
		rnd[i] = byte(rand.Uint32())
	}
	entry, sp, err := Load(p.as, img, file, StackArgs{
		Argv: append([]string{name}, argv...), Envp: []string{"HOME=/", "GODEBUG=asyncpreemptoff=1"},
		Auxv: [][2]uint64{{AtHwcap, hwcapFPASIMD}}, Random: rnd,
	}, rt.WithIRQsOff)
	if err != nil {
		return Result{}, err
	}
	rt.SyncICache()
	uc := &rt.UserContext{TTBR: p.as.PT.TTBR(p.asid)}
	uc.Regs.PC, uc.Regs.SP = entry, sp
	p.spawn(uc)
	<-p.done
	p.threads.Wait()
	return Result{Status: p.status, Reason: p.reason, Threads: p.nextTid.Load() - p.pid,
		Syscalls: p.syscalls.Load(), ZeroFills: p.as.Stats().ZeroFills}, nil
}

// touch zeroes every page of the fresh (zero) object [ptr, ptr+n) once, so
// that later accesses with interrupts masked never take a demand-zero fault.
func touch(ptr unsafe.Pointer, n uintptr) {
	b := unsafe.Slice((*byte)(ptr), n)
	for i := 0; i < len(b); i += PageSize {
		b[i] = 0
	}
	if n > 0 {
		b[n-1] = 0
	}
}

// destroy frees the address space (after every thread has stopped).
func (p *Process) destroy() {
	rt.WithIRQsOff(func() { p.as.Destroy() })
	arch.FlushTLB()
}

// spawn starts a kernel goroutine serving the user thread whose registers
// are in uc.
func (p *Process) spawn(uc *rt.UserContext) int32 {
	t := &thread{p: p, tid: p.nextTid.Add(1) - 1, uc: uc}
	p.threads.Add(1)
	go t.loop()
	return t.tid
}

// exit ends the process with status (first caller wins).
func (p *Process) exit(status int, reason string) {
	p.once.Do(func() {
		p.status, p.reason = status, reason
		close(p.done)
	})
}

// exited reports whether the process has ended.
func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// loop is a user thread's kernel goroutine: enter EL0 until a trap, handle
// the trap, until the thread or the process ends.
func (t *thread) loop() {
	defer t.p.threads.Done()
	for !t.p.exited() {
		rt.EnterUser(t.uc)
		if t.p.exited() {
			return
		}
		switch t.uc.Trap {
		case rt.TrapSVC:
			if !t.syscall() {
				return
			}
		case rt.TrapAbort:
			t.fault()
		case rt.TrapIRQ:
		default:
			t.kill(4, fmt.Sprintf("SIGILL: exception class %#x (ESR %#x) at pc %#x", t.uc.ESR>>26, t.uc.ESR, t.uc.Regs.PC))
		}
	}
}

// kill ends the process with signal sig and a one-line reason.
func (t *thread) kill(sig int, reason string) {
	t.p.exit(128+sig, fmt.Sprintf("process %s killed: %s", t.p.Name, reason))
}

// fault handles an instruction or data abort from EL0: demand-zero paging,
// or SIGSEGV (the process is killed: signals are not delivered yet).
func (t *thread) fault() {
	esr, far := t.uc.ESR, t.uc.FAR
	acc := mm.AccessRead
	switch {
	case esr>>26 == 0x20:
		acc = mm.AccessExec
	case esr&(1<<6) != 0: // WnR
		acc = mm.AccessWrite
	}
	dfsc := esr & 0x3f
	var r mm.FaultResult = mm.FaultSegvAccErr
	if dfsc&0x3c == 0x04 || dfsc&0x3c == 0x0c { // translation or permission fault
		rt.WithIRQsOff(func() { r = t.p.as.Fault(far, acc) })
	}
	switch r {
	case mm.FaultMapped:
		if acc == mm.AccessExec {
			rt.SyncICache()
		}
	case mm.FaultSpurious:
		arch.FlushTLB()
	case mm.FaultOOM:
		t.kill(9, fmt.Sprintf("out of memory at %#x", far))
	default:
		t.kill(11, fmt.Sprintf("SIGSEGV at pc %#x addr %#x (ESR %#x)", t.uc.Regs.PC, far, esr))
	}
}
