package linuxref

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCmdline(t *testing.T) {
	o, err := ParseCmdline("console=ttyAMA0 quiet panic=-1 linuxref.net=10.0.2.15/24 linuxref.poweroff\n")
	require.NoError(t, err)
	require.Equal(t, Options{PowerOff: true, Net: netip.MustParsePrefix("10.0.2.15/24")}, o)
	require.Equal(t, "linuxref.net=10.0.2.15/24 linuxref.poweroff", o.String())

	o, err = ParseCmdline("console=ttyAMA0 linuxref.poweroff=0")
	require.NoError(t, err)
	require.Equal(t, Options{}, o)
	require.Equal(t, "", o.String())

	o, err = ParseCmdline("console=ttyAMA0 linuxref.run=/bin/sysbench,all linuxref.run=/bin/p,a%20b linuxref.poweroff")
	require.NoError(t, err)
	require.Equal(t, Options{PowerOff: true, Run: [][]string{{"/bin/sysbench", "all"}, {"/bin/p", "a b"}}}, o,
		"each linuxref.run is a command, in order")
	require.Equal(t, "linuxref.run=/bin/sysbench,all linuxref.run=/bin/p,a%20b linuxref.poweroff", o.String())

	for _, bad := range []string{"linuxref.run", "linuxref.run=", "linuxref.run=,x", "linuxref.run=/bin/p,%zz"} {
		_, err = ParseCmdline(bad)
		require.ErrorContains(t, err, OptRun, bad)
	}

	o, err = ParseCmdline("linuxref.net=10.99.0.2/24 linuxref.echo=/bin/echo")
	require.NoError(t, err)
	require.Equal(t, Options{Net: netip.MustParsePrefix("10.99.0.2/24"), Echo: "/bin/echo"}, o)
	require.Equal(t, "linuxref.net=10.99.0.2/24 linuxref.echo=/bin/echo", o.String())
	_, err = ParseCmdline("linuxref.echo=echo")
	require.ErrorContains(t, err, OptEcho)

	_, err = ParseCmdline("linuxref.net=10.0.2.15")
	require.ErrorContains(t, err, "ADDR/PREFIX")
	_, err = ParseCmdline("linuxref.net=fe80::1/64")
	require.ErrorContains(t, err, "IPv4")
}

func TestReadyLine(t *testing.T) {
	out := "[    0.0] Booting Linux\r\nlinuxref: ready in 2203.5 ms; counter 4012.0 ms; memory in use 21420 KiB of 490364 KiB\r\n" +
		"linuxref: echo ready on 10.0.2.15:7 in 2483.8 ms\n"
	r, ok := ParseReady(out)
	require.True(t, ok)
	require.Equal(t, Ready{UptimeMS: 2203.5, CounterMS: 4012, InUseKiB: 21420, TotalKiB: 490364}, r)
	require.Equal(t, "linuxref: ready in 2203.5 ms; counter 4012.0 ms; memory in use 21420 KiB of 490364 KiB", r.String())

	for _, bad := range []string{
		"nothing here",
		"linuxref: ready in x ms; counter 1 ms; memory in use 1 KiB of 2 KiB",
		"linuxref: ready in 1.0 ms; counter 1 ms; memory in use -1 KiB of 2 KiB",
		"linuxref: ready in NaN ms; counter 1 ms; memory in use 1 KiB of 2 KiB",
		"linuxref: ready in 1.0 ms; counter +Inf ms; memory in use 1 KiB of 2 KiB",
		"linuxref: ready in 1.0 ms; counter 1 ms; memory in use 1 KiB of 2 MiB",
		"linuxref: ready in 1.0 ms; memory in use 1 KiB of 2 KiB",
		"linuxref: ready in 1.0 ms",
	} {
		_, ok := ParseReady(bad)
		require.False(t, ok, bad)
	}
}

func TestFailure(t *testing.T) {
	line, ok := Failure("linuxref: ready in 1.0 ms; counter 1.5 ms; memory in use 1 KiB of 2 KiB\r\nLINUXREF-FAIL eth0: no such device\r\n")
	require.True(t, ok)
	require.Equal(t, "LINUXREF-FAIL eth0: no such device", line)
	_, ok = Failure("linuxref: power off\n")
	require.False(t, ok)
}

// FuzzParseReady: never panics; an accepted line has sane numbers and
// formats back to a line that parses to the same values (up to the 0.1 ms
// the line carries).
func FuzzParseReady(f *testing.F) {
	f.Add("linuxref: ready in 2203.5 ms; counter 4012.0 ms; memory in use 21420 KiB of 490364 KiB\r\n")
	f.Add("x linuxref: ready in 1e3 ms; counter 0 ms; memory in use 0 KiB of 0 KiB")
	f.Add("linuxref: ready in 1.0 ms;")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ParseReady(s)
		if !ok {
			return
		}
		require.GreaterOrEqual(t, r.UptimeMS, 0.0)
		require.GreaterOrEqual(t, r.InUseKiB, 0)
		again, ok := ParseReady(r.String())
		require.True(t, ok, r.String())
		require.Equal(t, r.InUseKiB, again.InUseKiB)
		require.Equal(t, r.TotalKiB, again.TotalKiB)
		require.InDelta(t, r.UptimeMS, again.UptimeMS, 0.05+r.UptimeMS*1e-12)
		require.InDelta(t, r.CounterMS, again.CounterMS, 0.05+r.CounterMS*1e-12)
	})
}

// FuzzParseCmdline: never panics, and the options of an accepted command
// line survive formatting and parsing again.
func FuzzParseCmdline(f *testing.F) {
	f.Add("console=ttyAMA0 quiet panic=-1 linuxref.net=10.0.2.15/24 linuxref.poweroff")
	f.Add("linuxref.poweroff=y linuxref.net=192.168.1.2/32")
	f.Add("linuxref.net=::1/128")
	f.Add("linuxref.run=/bin/sysbench,all,-n,%2C linuxref.run=/x")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseCmdline(s)
		if err != nil {
			return
		}
		again, err := ParseCmdline(o.String())
		require.NoError(t, err)
		require.Equal(t, o, again)
	})
}
