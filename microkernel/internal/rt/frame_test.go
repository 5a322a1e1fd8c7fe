package rt

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestFrameLayoutMatchesAssembly checks that frame.h, which the vector code
// uses, agrees with the Go view of a Frame.
func TestFrameLayoutMatchesAssembly(t *testing.T) {
	src, err := os.ReadFile("frame.h")
	require.NoError(t, err)
	defs := map[string]uintptr{}
	for _, m := range regexp.MustCompile(`#define\s+(\w+)\s+(\d+)`).FindAllStringSubmatch(string(src), -1) {
		v, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		defs[m[1]] = uintptr(v)
	}
	var f Frame
	want := map[string]uintptr{
		"FRAME_X0":     unsafe.Offsetof(f.X),
		"FRAME_SP":     unsafe.Offsetof(f.SP),
		"FRAME_PC":     unsafe.Offsetof(f.PC),
		"FRAME_PSTATE": unsafe.Offsetof(f.PSTATE),
		"FRAME_FPSR":   unsafe.Offsetof(f.FPSR),
		"FRAME_FPCR":   unsafe.Offsetof(f.FPCR),
		"FRAME_Q0":     unsafe.Offsetof(f.Q),
		"FRAME_SIZE":   unsafe.Sizeof(f),
	}
	for name, off := range want {
		require.Equal(t, off, defs[name], name)
	}
	require.Zero(t, unsafe.Sizeof(f)%16, "frame must keep SP 16-byte aligned")
}
