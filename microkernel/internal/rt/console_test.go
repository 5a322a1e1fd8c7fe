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
	resetKernel(t, 16)
	out := captureConsole(t)
	var tf Frame
	require.Equal(t, errno(ENOSYS), svc(&tf, sysPrctl, 15))
	require.Equal(t, errno(ENOSYS), svc(&tf, sysPrctl, 15))
	require.Equal(t, errno(ENOSYS), svc(&tf, 300))
	require.Equal(t, errno(ENOSYS), svc(&tf, 300))
	require.Equal(t, errno(ENOSYS), svc(&tf, 1<<20))
	require.Equal(t, errno(ENOSYS), svc(&tf, 1<<21))
	require.Equal(t,
		"armos: syscall prctl (167) not implemented: ENOSYS\n"+
			"armos: syscall (300) not implemented: ENOSYS\n"+
			"armos: syscall (1048576) not implemented: ENOSYS\n",
		out.String(), "each unimplemented call is named once")
}

func TestConsoleWriteReachesTheUART(t *testing.T) {
	resetKernel(t, 16)
	out := captureConsole(t)
	var tf Frame
	msg := []byte("hello from the runtime\n")
	require.EqualValues(t, len(msg), svc(&tf, sysWrite, 2, uint64(addrOfBytes(msg)), uint64(len(msg))))
	require.Equal(t, string(msg), out.String())
}
