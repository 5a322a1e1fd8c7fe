package vdso

// The vDSO functions, in machine code. They follow AAPCS64 as the Linux
// arm64 vDSO does: arguments in x0/x1, result in x0 (0 or -errno, exactly as
// the system call), and they are leaves that touch only x0–x17 and the
// condition flags: no stack, no x18 (platform register), x19–x30 and SP kept.
// The Go runtime relies on that (nanotime1 keeps its saved SP in R20, m in
// R21 and g in R28 across the call).
//
// Register use:
//
//	x0, x1   arguments; x0 result
//	x8       system call number on the fallback path
//	x9       the data page (ADR, PC-relative: the image never needs to know
//	         where it is mapped)
//	x10      Seq as first read
//	x11      ClockMask
//	x12–x17  Mult, Shift, CycleBase, Base, counter, Seq re-read; then scratch

const (
	nrClockGettime = 113 // __NR_clock_gettime (asm-generic)
	nrClockGetres  = 114 // __NR_clock_getres
	nrGettimeofday = 169 // __NR_gettimeofday
)

// function is one exported vDSO entry point.
type function struct {
	name       string
	start, end int64 // image addresses
}

// vvarAddr is the image address of the data page: the page below the image.
const vvarAddr = -PageSize

// text assembles the vDSO functions starting at image address org.
func text(org int64) (*asm, []function) {
	a := &asm{org: org}
	var fns []function
	def := func(name string, gen func(*asm)) {
		start := a.pc()
		gen(a)
		fns = append(fns, function{name: name, start: start, end: a.pc()})
	}
	def("__kernel_clock_gettime", clockGettime)
	def("__kernel_gettimeofday", gettimeofday)
	def("__kernel_clock_getres", clockGetres)
	return a, fns
}

// readNS emits the seqlock-protected clock read: x14 = the clock's value in
// ns. clockReg holds the clock id when the clock is variable (Base is then
// indexed by it); otherwise clock is the fixed id. Clocks the page does not
// serve (ClockMask bit clear, so also an all-zero page) go to fallback with
// x0 and x1 untouched. Clobbers x9–x17.
func readNS(a *asm, clockReg reg, clock uint32, fallback *label) {
	a.adr(x9, vvarAddr)
	retry := a.label()
	a.bind(retry)
	a.ldarW(x10, x9) // x10 = Seq; acquire: the loads below come after it
	a.tbnz(x10, 0, retry)
	a.ldrW(x11, x9, OffClockMask)
	if clockReg != xzr {
		a.lsrvW(x11, x11, clockReg)
		a.tbz(x11, 0, fallback)
	} else {
		a.tbz(x11, clock, fallback)
	}
	a.ldp(x12, x14, x9, OffMult) // x12 = Mult, x14 = CycleBase
	a.ldrW(x13, x9, OffShift)
	if clockReg != xzr {
		a.addImm(x15, x9, OffBase)
		a.ldrXIdx(x15, x15, clockReg) // x15 = Base[clock]
	} else {
		a.ldrX(x15, x9, OffBase+8*clock)
	}
	a.isb() // the counter is not read before the instructions above
	a.mrsCNTVCT(x16)
	// Re-read Seq after the field loads (DMB ISHLD) and after the counter
	// (its address depends on the counter value through x17 = x16^x16 = 0).
	a.dmbISHLD()
	a.eor(x17, x16, x16)
	a.ldrWReg(x17, x9, x17)
	a.cmpW(x17, x10)
	a.bcond(condNE, retry)

	// x14 = Base + ((counter - CycleBase) * Mult >> Shift), 128-bit product.
	a.sub(x16, x16, x14)
	a.mul(x14, x16, x12)   // low 64 bits
	a.umulh(x16, x16, x12) // high 64 bits
	a.lsrv(x14, x14, x13)  // lo >> shift
	a.lslImm(x16, x16, 1)
	a.mvn(x13, x13)       // low 6 bits: 63 - shift
	a.lslv(x16, x16, x13) // hi << (64 - shift), 0 when shift is 0
	a.orr(x14, x14, x16)
	a.add(x14, x14, x15)
}

// splitSec emits x13 = x14 / 1e9, x14 = x14 % 1e9. Clobbers x12.
func splitSec(a *asm) {
	a.movz(x12, 1_000_000_000&0xffff, 0)
	a.movk(x12, 1_000_000_000>>16, 1)
	a.udiv(x13, x14, x12)
	a.msub(x14, x13, x12, x14)
}

// fallbackSyscall emits the fallback: the real system call with the caller's
// arguments, returning its result.
func fallbackSyscall(a *asm, l *label, nr uint32) {
	a.bind(l)
	a.movz(x8, nr, 0)
	a.svc0()
	a.ret()
}

// clockGettime: int __kernel_clock_gettime(clockid_t clock, struct timespec *ts)
func clockGettime(a *asm) {
	fallback := a.label()
	a.cmpWImm(x0, NumClocks-1) // unsigned: negative (CPU-time) ids fall back too
	a.bcond(condHI, fallback)
	readNS(a, x0, 0, fallback)
	splitSec(a)
	a.stp(x13, x14, x1, 0) // ts->tv_sec, ts->tv_nsec
	a.movz(x0, 0, 0)
	a.ret()
	fallbackSyscall(a, fallback, nrClockGettime)
}

// gettimeofday: int __kernel_gettimeofday(struct timeval *tv, struct timezone *tz)
//
// A time zone request goes to the system call: the kernel owns that state.
func gettimeofday(a *asm) {
	fallback, done := a.label(), a.label()
	a.cbnz(x1, fallback)
	a.cbz(x0, done)
	readNS(a, xzr, ClockRealtime, fallback)
	splitSec(a)
	a.movz(x12, 1000, 0)
	a.udiv(x14, x14, x12)  // µs
	a.stp(x13, x14, x0, 0) // tv->tv_sec, tv->tv_usec
	a.bind(done)
	a.movz(x0, 0, 0)
	a.ret()
	fallbackSyscall(a, fallback, nrGettimeofday)
}

// clockGetres: int __kernel_clock_getres(clockid_t clock, struct timespec *res)
func clockGetres(a *asm) {
	fallback, done := a.label(), a.label()
	a.cmpWImm(x0, NumClocks-1)
	a.bcond(condHI, fallback)
	a.adr(x9, vvarAddr)
	a.ldrW(x11, x9, OffClockMask)
	a.lsrvW(x11, x11, x0)
	a.tbz(x11, 0, fallback)
	a.cbz(x1, done) // res may be NULL
	a.ldrW(x12, x9, OffResolution)
	a.stp(xzr, x12, x1, 0) // {0, ResolutionNS}
	a.bind(done)
	a.movz(x0, 0, 0)
	a.ret()
	fallbackSyscall(a, fallback, nrClockGetres)
}
