//go:build !arm64

package rt

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"armos/microkernel/internal/arch"
)

// captureConsole records the bytes trap code writes to the (fake) PL011
// data register from now until the end of the test.
func captureConsole(t *testing.T) *strings.Builder {
	t.Helper()
	var out strings.Builder
	arch.SetHostWrite32Hook(func(addr uintptr, v uint32) {
		if addr == consoleBase { // UARTDR, offset 0
			out.WriteByte(byte(v))
		}
	})
	t.Cleanup(func() { arch.SetHostWrite32Hook(nil) })
	return &out
}

func TestENOSYSIsNamedOnceOnTheConsole(t *testing.T) {
	resetKernel(t, 64)
	newUser(t, 1)
	out := captureConsole(t)
	var tf Frame
	require.Equal(t, errno(ENOSYS), svc(&tf, 300))
	require.Equal(t, errno(ENOSYS), svc(&tf, 300))
	require.Equal(t, errno(ENOSYS), svc(&tf, 1<<20))
	require.Equal(t, errno(ENOSYS), svc(&tf, 1<<21))
	require.Equal(t, errno(ENOSYS), svc(&tf, sysPidfdSendSignal), "probed calls are refused quietly")
	require.Equal(t,
		"armos: syscall (300) not implemented: ENOSYS (first seen in test)\n"+
			"armos: syscall (1048576) not implemented: ENOSYS (first seen in test)\n",
		out.String(), "each unimplemented call is named once")
}

// TestConsoleLinesArePrefixed: a process's lines start with its name, and
// another process's output never continues a line that is not finished.
func TestConsoleLinesArePrefixed(t *testing.T) {
	resetKernel(t, 64)
	a := newUser(t, 1)
	setName(pr(a.p), "alpha")
	b := newUser(t, 1)
	setName(pr(b.p), "beta")
	out := captureConsole(t)
	var tf Frame
	write := func(u *uproc, s string) {
		u.run(u.main)
		va := u.put(0, []byte(s))
		require.EqualValues(t, len(s), svc(&tf, sysWrite, 1, va, uint64(len(s))))
	}
	write(a, "one\ntwo ")
	write(b, "three\n")
	write(a, "four\n")
	require.Equal(t, "alpha: one\nalpha: two \nbeta: three\nalpha: four\n", out.String())
}

// TestConsoleWriteIsBounded: one write moves at most maxIOChunk bytes (a
// short write the caller loops over), so no call holds the lock for long.
func TestConsoleWriteIsBounded(t *testing.T) {
	resetKernel(t, 64)
	u := newUser(t, 4)
	out := captureConsole(t)
	var tf Frame
	big := strings.Repeat("x", 3*maxIOChunk)
	va := u.put(0, []byte(big[:3*pageSize]))
	require.EqualValues(t, maxIOChunk, svc(&tf, sysWrite, 2, va, uint64(3*pageSize)))
	require.Equal(t, "test: "+big[:maxIOChunk], out.String())
	require.Equal(t, errno(EFAULT), svc(&tf, sysWrite, 2, 0x10, 8))
	require.Equal(t, errno(EBADF), svc(&tf, sysWrite, 9, va, 8))
}

// TestConsoleInputArrivingDuringTheInterrupt: bytes that reach the UART
// after consoleRX found its receive FIFO empty keep their interrupt, so
// the next consoleRX takes them. The PL011 is modelled as QEMU's: its
// receive interrupt is raised when the FIFO stops being empty and stays
// raised until UARTICR clears it. consoleRX used to clear it after
// draining, which also cleared the late bytes' interrupt: they (the end
// of a command the shell was typed, and all typed after) stayed in the
// FIFO.
func TestConsoleInputArrivingDuringTheInterrupt(t *testing.T) {
	resetKernel(t, 64)
	consoleIn.r, consoleIn.w = 0, 0
	const dr, fr, icr = 0x000, 0x018, 0x044
	const rxfe, rxim = 1 << 4, 1 << 4
	fifo := []byte("ifconf")
	late := []byte("ig\n") // arrives right after the FIFO was seen empty
	raised := true         // the interrupt consoleRX runs for
	arch.SetHostRead32Hook(func(addr uintptr) (uint32, bool) {
		switch addr {
		case consoleBase + fr:
			if len(fifo) > 0 {
				return 0, true
			}
			if len(late) > 0 {
				fifo, late = append(fifo, late...), nil
				raised = true
			}
			return rxfe, true
		case consoleBase + dr:
			c := fifo[0]
			fifo = fifo[1:]
			return uint32(c), true
		}
		return 0, false
	})
	arch.SetHostWrite32Hook(func(addr uintptr, v uint32) {
		if addr == consoleBase+icr && v&rxim != 0 {
			raised = false
		}
	})
	t.Cleanup(func() { arch.SetHostRead32Hook(nil); arch.SetHostWrite32Hook(nil) })

	for n := 0; raised; n++ {
		require.Less(t, n, 3, "the interrupt stays raised")
		consoleRX()
	}
	require.Empty(t, fifo, "bytes left in the FIFO with no interrupt to fetch them")
	require.Equal(t, "ifconfig\n", string(consoleIn.buf[consoleIn.r:consoleIn.w]))
}
