package linuxref

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// The console lines the guest's /init prints (on /dev/console, the PL011)
// and the host parses. ReadyLine and EchoReadyLine start the lines the
// runner times.
const (
	ReadyMarker     = "linuxref: ready"
	EchoReadyMarker = "linuxref: echo ready"
	PowerOffLine    = "linuxref: power off"
	// FailMarker starts a line /init prints before it gives up.
	FailMarker = "LINUXREF-FAIL"
)

// Kernel command line options /init obeys.
const (
	// OptPowerOff: power off (PSCI SYSTEM_OFF, QEMU exits) once ready,
	// after the network is up if OptNet is given too.
	OptPowerOff = "linuxref.poweroff"
	// OptNet=ADDR/PREFIX: load the virtio-net modules, bring up eth0 with
	// that address and serve UDP echo on port 7.
	OptNet = "linuxref.net"
	// OptRun=ARGS: run a program (ARGS is its os.Args, EncodeArgs'
	// encoding: "/bin/sysbench,all") after the ready line and the network,
	// print its output and how it ended (see run.go). Repeatable: the
	// programs run one after another, in command line order, before any
	// power off.
	OptRun = "linuxref.run"
	// OptEcho=PATH: with OptNet, serve UDP echo with the program at PATH
	// (armos's apps/echo, the same binary armos runs) instead of /init's
	// own server; /init starts it in the background and prints the echo
	// ready line once the program's stdout says "ready".
	OptEcho = "linuxref.echo"
)

// DefaultGuestAddr is slirp's usual guest address, used by the runner.
var DefaultGuestAddr = netip.MustParsePrefix("10.0.2.15/24")

// Options are what the guest reads from its kernel command line.
type Options struct {
	PowerOff bool
	Net      netip.Prefix // invalid (zero) means no network
	Run      [][]string   // programs to run in turn, each its os.Args
	Echo     string       // the echo program (OptEcho), "" for /init's own
}

// String formats o as kernel command line words (the inverse of
// ParseCmdline for the linuxref.* options).
func (o Options) String() string {
	var w []string
	if o.Net.IsValid() {
		w = append(w, OptNet+"="+o.Net.String())
	}
	if o.Echo != "" {
		w = append(w, OptEcho+"="+o.Echo)
	}
	for _, args := range o.Run {
		w = append(w, OptRun+"="+EncodeArgs(args))
	}
	if o.PowerOff {
		w = append(w, OptPowerOff)
	}
	return strings.Join(w, " ")
}

// ParseCmdline reads the linuxref.* options from a kernel command line
// (/proc/cmdline). Other words are ignored; a bad linuxref.net address or
// linuxref.run command is an error, so the guest can say so instead of
// silently doing less.
func ParseCmdline(cmdline string) (Options, error) {
	var o Options
	for _, w := range strings.Fields(cmdline) {
		k, v, hasV := strings.Cut(w, "=")
		switch k {
		case OptPowerOff:
			o.PowerOff = !hasV || v == "1" || v == "y"
		case OptNet:
			p, err := netip.ParsePrefix(v)
			if err != nil || !p.Addr().Is4() {
				return Options{}, fmt.Errorf("%s: want an IPv4 ADDR/PREFIX, got %q", OptNet, v)
			}
			o.Net = p
		case OptEcho:
			if !strings.HasPrefix(v, "/") {
				return Options{}, fmt.Errorf("%s: want an absolute path, got %q", OptEcho, v)
			}
			o.Echo = v
		case OptRun:
			args, err := DecodeArgs(v)
			if err != nil {
				return Options{}, fmt.Errorf("%s: %v", OptRun, err)
			}
			o.Run = append(o.Run, args)
		}
	}
	return o, nil
}

// Ready is what the guest reports when /init starts. UptimeMS is
// CLOCK_BOOTTIME, which starts when the kernel sets up timekeeping (a
// little after entry: what the kernel did before that is not counted).
// CounterMS is the generic timer's virtual counter (CNTVCT_EL0 over
// CNTFRQ_EL0), which QEMU starts at 0 when the machine starts, so it
// covers everything from the first instruction on. InUseKiB is MemTotal -
// MemFree from /proc/meminfo; TotalKiB is MemTotal (RAM minus what the
// kernel reserved for itself, e.g. its image).
type Ready struct {
	UptimeMS  float64
	CounterMS float64
	InUseKiB  int
	TotalKiB  int
}

// readyFormat is the ready line; readyPattern is the same line as words,
// with %f and %d where the numbers go.
const readyFormat = "%s in %.1f ms; counter %.1f ms; memory in use %d KiB of %d KiB"

var readyPattern = strings.Fields("in %f ms; counter %f ms; memory in use %d KiB of %d KiB")

// String formats r as the ready line (without a newline).
func (r Ready) String() string {
	return fmt.Sprintf(readyFormat, ReadyMarker, r.UptimeMS, r.CounterMS, r.InUseKiB, r.TotalKiB)
}

// ParseReady finds the ready line in console output and parses it.
func ParseReady(out string) (Ready, bool) {
	for _, l := range strings.Split(out, "\n") {
		i := strings.Index(l, ReadyMarker+" in ")
		if i < 0 {
			continue
		}
		if r, ok := parseReadyWords(strings.Fields(l[i+len(ReadyMarker):])); ok {
			return r, true
		}
	}
	return Ready{}, false
}

func parseReadyWords(f []string) (Ready, bool) {
	if len(f) != len(readyPattern) {
		return Ready{}, false
	}
	var floats []float64
	var ints []int
	for i, p := range readyPattern {
		switch p {
		case "%f":
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil || !(v >= 0) || math.IsInf(v, 0) {
				return Ready{}, false
			}
			floats = append(floats, v)
		case "%d":
			v, err := strconv.Atoi(f[i])
			if err != nil || v < 0 {
				return Ready{}, false
			}
			ints = append(ints, v)
		default:
			if f[i] != p {
				return Ready{}, false
			}
		}
	}
	return Ready{UptimeMS: floats[0], CounterMS: floats[1], InUseKiB: ints[0], TotalKiB: ints[1]}, true
}

// Failure returns the first FailMarker line of console output, if any.
func Failure(out string) (string, bool) {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, FailMarker); i >= 0 {
			return strings.TrimSpace(l[i:]), true
		}
	}
	return "", false
}

// GuestModuleList is the file in the initramfs listing the modules /init
// loads for the network, one path a line, dependencies first.
const GuestModuleList = "/etc/linuxref/modules"
