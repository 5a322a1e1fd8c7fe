package rt

// System-call tracing: the boot argument armos.strace=NAME prints every
// system call of the processes called NAME (armos.strace=* : of every
// process) on the console, one line per call as it returns:
//
//	strace: NAME[PID] +T name(a0, a1, a2) = result
//
// T is the counter ticks from the end of that process's previous traced
// line to this call's return (with -icount shift=0 a tick is 16 guest
// instructions: the cost of the code between two calls, the call
// included, the tracing's own printing left out). A call that blocks prints
// "... blocked" and is printed again when it is retried; one handed to the
// kernel's services prints "... service"; a restart of a long call,
// "... restart". Only the argument registers are shown, in hex.

var (
	straceName [16]byte // the name traced; "*" for every process
	straceOn   bool
)

// straceInit reads armos.strace from the boot arguments.
func straceInit(v []byte) {
	if len(v) == 0 || len(v) >= len(straceName) {
		return
	}
	copy(straceName[:], v)
	straceOn = true
}

// traced reports whether the calls of process p are traced.
//
//go:nosplit
func traced(p int) bool {
	if !straceOn || p == 0 {
		return false
	}
	if straceName[0] == '*' && straceName[1] == 0 {
		return true
	}
	return pr(p).name == straceName
}

// straceLine prints the line of call nr of process p with the arguments
// in tf and how it ended (what: "" for a result r).
//
//go:nosplit
func straceLine(p int, nr uint64, args *[6]uint64, r uint64, what string) {
	pp := pr(p)
	t := now()
	kmsgStart()
	puts("strace: ")
	putName(pp)
	puts("[")
	putDec(uint64(pp.pid))
	puts("] +")
	putDec(t - pp.straceAt)
	puts(" ")
	if nr < maxSyscall && syscalls[nr].name != "" {
		puts(syscalls[nr].name)
	} else {
		puts("syscall_")
		putDec(nr)
	}
	puts("(")
	for i := 0; i < 3; i++ {
		if i > 0 {
			puts(", ")
		}
		putHexShort(args[i])
	}
	puts(")")
	if what != "" {
		puts(" ... ")
		puts(what)
	} else {
		puts(" = ")
		if int64(r) < 0 && int64(r) > -4096 {
			puts("-")
			putDec(-r)
		} else {
			putHexShort(r)
		}
	}
	puts("\n")
	pp.straceAt = now() // the next delta leaves this line's printing out
}

// putHexShort prints v in hex without leading zeros.
//
//go:nosplit
func putHexShort(v uint64) {
	var b [18]byte
	i := len(b)
	for {
		i--
		b[i] = "0123456789abcdef"[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	i--
	b[i] = 'x'
	i--
	b[i] = '0'
	putBytes(b[i:])
}
