package rt

import "armos/microkernel/internal/arch"

// Console output: trap-level code prints strings, hex and decimal numbers
// straight to the PL011, no formatting package, no allocation. Processes
// write to the console through descriptors 1 and 2; each of their lines is
// prefixed with the process's name, so the output of several processes
// stays readable (and parseable by host tests).

//go:nosplit
func puts(s string) {
	for i := 0; i < len(s); i++ {
		arch.PutByte(s[i])
	}
}

//go:nosplit
func putBytes(b []byte) {
	for _, c := range b {
		arch.PutByte(c)
	}
}

// putHex prints v as 0x followed by 16 hex digits.
//
//go:nosplit
func putHex(v uint64) {
	const digits = "0123456789abcdef"
	puts("0x")
	for shift := 60; shift >= 0; shift -= 4 {
		arch.PutByte(digits[(v>>uint(shift))&0xf])
	}
}

// putDec prints v in decimal.
//
//go:nosplit
func putDec(v uint64) {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	putBytes(buf[i:])
}

// putName prints a process's name.
//
//go:nosplit
func putName(p *process) {
	for _, c := range p.name {
		if c == 0 {
			break
		}
		arch.PutByte(c)
	}
}

// lastWriter is the process whose output the console shows last, and
// whether that output ended a line.
var (
	lastWriter    = -1
	lastEndedLine = true
)

// consoleLine makes sure the next byte of process p starts where it
// should: a process's unfinished line interrupted by another's output is
// ended first.
//
//go:nosplit
func consoleLine(p int) {
	if lastWriter != p && !lastEndedLine {
		arch.PutByte('\n')
		lastEndedLine = true
		if lastWriter >= 0 && procPage[lastWriter] != 0 {
			pr(lastWriter).atLineStart = true
		}
	}
	lastWriter = p
}

// consoleWrite writes up to maxIOChunk bytes at va of the running process
// to the console and returns how many (a short write beyond that: callers
// loop). Lines of user processes start with "name: ".
func consoleWrite(p int, va, n uint64) uint64 {
	if n > maxIOChunk {
		n = maxIOChunk
	}
	pp := pr(p)
	var buf [256]byte
	done := uint64(0)
	for done < n {
		k := n - done
		if k > uint64(len(buf)) {
			k = uint64(len(buf))
		}
		if !copyIn(buf[:k], va+done) {
			if done == 0 {
				return errno(EFAULT)
			}
			return done
		}
		consoleLine(p)
		for _, c := range buf[:k] {
			if p != 0 && pp.atLineStart {
				putName(pp)
				puts(": ")
			}
			arch.PutByte(c)
			pp.atLineStart = c == '\n'
		}
		lastEndedLine = buf[k-1] == '\n'
		done += k
	}
	return done
}

// kmsgStart prepares the console for a kernel message (which ends with a
// newline): a process's unfinished line is ended first.
//
//go:nosplit
func kmsgStart() {
	consoleLine(-1)
	lastEndedLine = true
}

// Console input: what is typed on the serial console (the PL011's receive
// interrupt) waits in a ring until a process reads its descriptor 0 (or
// any console descriptor): the serial shell's input. A read takes what is
// there (at most the ring), blocking while it is empty (EAGAIN when
// non-blocking); epoll reports the console readable then. When the ring
// is full, further bytes are dropped and counted (ConsoleInDropped).

// consoleInSize bounds the bytes typed ahead of the reader.
const consoleInSize = 1024

var consoleIn struct {
	buf   [consoleInSize]byte
	r, w  uint64 // bytes taken and put so far
	intid uint32 // the UART's interrupt (0: input off)
}

// EnableConsoleInput turns on console input through the UART's interrupt
// intid (from the device tree).
func EnableConsoleInput(intid uint32) {
	Locked(func() {
		consoleIn.intid = intid
		objQueue(consoleObj) // its readers' queue, for good (the console never closes)
		arch.UARTEnableRX()
		arch.GICEnable(intid)
	})
}

// consoleRX is the UART's interrupt: move the received bytes into the
// ring and wake the readers. The interrupt is acknowledged before the FIFO
// is drained, as Linux's PL011 driver does: a byte arriving after the
// drain found the FIFO empty raises it again. Acknowledged after the
// drain, such a byte's interrupt was cleared with the others, and the
// byte (with everything typed after it: QEMU's PL011 interrupts when its
// FIFO stops being empty) stayed in the FIFO with nothing to fetch it.
//
//go:nosplit
func consoleRX() {
	arch.UARTClearRX()
	got := false
	for {
		c, ok := arch.GetByte()
		if !ok {
			break
		}
		if consoleIn.w-consoleIn.r == consoleInSize {
			stats.ConsoleInDropped++
			continue
		}
		consoleIn.buf[consoleIn.w%consoleInSize] = c
		consoleIn.w++
		got = true
	}
	if got {
		if q := objs[consoleObj].q; q >= 0 {
			wakeQueueRetry(q)
		}
		notify(consoleObj)
	}
}

// consoleRead hands over what was typed (blocking while nothing was).
//
//go:nosplit
func consoleRead(tf *Frame, va, n uint64, nonblock bool) uint64 {
	if consoleIn.r == consoleIn.w {
		if nonblock || consoleIn.intid == 0 {
			if consoleIn.intid == 0 {
				return 0 // no input device: end of file
			}
			return errno(EAGAIN)
		}
		return blockOn(tf, objQueue(consoleObj), waitConsole, 0, 0)
	}
	var tmp [256]byte
	k := min(n, consoleIn.w-consoleIn.r, uint64(len(tmp)))
	for i := uint64(0); i < k; i++ {
		tmp[i] = consoleIn.buf[(consoleIn.r+i)%consoleInSize]
	}
	if !copyOut(va, tmp[:k]) {
		return errno(EFAULT)
	}
	consoleIn.r += k
	return k
}

// consoleReadable reports whether typed bytes wait.
//
//go:nosplit
func consoleReadable() bool { return consoleIn.r != consoleIn.w }
