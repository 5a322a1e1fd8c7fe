package guesttest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseSelftest(t *testing.T) {
	out := "banner\nselftest: PASS a (x)\r\nselftest: FAIL b: went wrong\nselftest: PASS c (y)\nselftest: 2 passed, 1 failed\n"
	r := ParseSelftest(out)
	require.Equal(t, []string{"a", "c"}, r.Passed)
	require.Equal(t, []string{"b: went wrong"}, r.Failures)
	require.True(t, r.Summary)
	require.ErrorContains(t, r.Check(), "b: went wrong")

	ok := ParseSelftest("selftest: PASS a (x)\nselftest: 1 passed, 0 failed\n")
	require.NoError(t, ok.Check())

	died := ParseSelftest("selftest: PASS a (x)\nARMOS-FAIL kernel fault\n")
	require.ErrorContains(t, died.Check(), "no summary line")

	lying := ParseSelftest("selftest: 3 passed, 0 failed\n")
	require.Error(t, lying.Check())
}

func TestParseReady(t *testing.T) {
	s, ok := ParseReady("armos: ready in 78.9 ms; memory in use 5244 KiB (pages 692 KiB + image 4552 KiB) of 256 MiB\n")
	require.True(t, ok)
	require.Equal(t, 78.9, s.BootMS)
	require.Equal(t, 5244, s.InUseKiB)
	_, ok = ParseReady("nothing here")
	require.False(t, ok)
}

func TestMachineArgs(t *testing.T) {
	args := Machine{GICVersion: 3, Virtualization: true, MemoryMiB: 128, Append: "selftest"}.Args("k.elf")
	require.Equal(t, []string{"-M", "virt,gic-version=3,virtualization=on", "-cpu", "cortex-a72", "-m", "128M",
		"-nographic", "-no-reboot", "-net", "none", "-kernel", "k.elf", "-append", "selftest"}, args)
}

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	require.Equal(t, 30*time.Millisecond, median(ms(900, 30, 10)), "an outlier does not move the median")
	require.Equal(t, 25*time.Millisecond, median(ms(40, 10, 20, 30)))
	require.Zero(t, median(nil))
}
