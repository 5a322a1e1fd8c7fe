package guesttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Processes: static linux/arm64 Go programs from the boot image run as
// armos processes. The test programs (progs/) pass on Linux too, so these
// tests check Linux behaviour, not armos quirks.

// testProgs are the programs in the test boot image.
var testProgs = []string{
	"apps/hello",
	"microkernel/guesttest/progs/gort",
	"microkernel/guesttest/progs/exitcode",
	"microkernel/guesttest/progs/spawn",
	"microkernel/guesttest/progs/pingpong",
	"microkernel/guesttest/progs/badptr",
	"microkernel/guesttest/progs/memhog",
	"microkernel/guesttest/progs/threadbomb",
	"microkernel/guesttest/progs/sysfuzz",
	"microkernel/guesttest/progs/regs",
	"microkernel/guesttest/progs/devtest",
	"microkernel/guesttest/progs/ipctest",
	"microkernel/guesttest/progs/nettest",
	"servers/init",
	"servers/netd",
	"servers/virtionetd",
	"servers/virtioconsd",
	"servers/dhcpc",
	"microkernel/guesttest/progs/conwrite",
	"apps/echo",
	"microkernel/guesttest/progs/netctl",
	"microkernel/guesttest/progs/restarter",
	"microkernel/guesttest/progs/conread",
	"apps/ping",
	"apps/ps",
	"apps/sh",
	"servers/resolved",
	"apps/nslookup",
	"servers/tcpd",
	"apps/httpd",
	"apps/httpget",
}

var (
	imageOnce sync.Once
	imagePath string
	imageErr  error
)

// testImage builds the boot image of the test programs once per test binary.
func testImage(tb testing.TB) string {
	tb.Helper()
	kernel(tb)
	imageOnce.Do(func() {
		dir := filepath.Join(buildTmpDir, "image")
		root, err := ModuleRoot()
		if err != nil {
			imageErr = err
			return
		}
		imagePath, imageErr = BuildImage(dir, testProgs, map[string]string{
			"/etc/init.conf":        filepath.Join(root, "servers", "init", "init.conf"),
			"/etc/init-tap.conf":    filepath.Join(root, "servers", "init", "tap.conf"),
			"/etc/init-static.conf": filepath.Join(root, "servers", "init", "static.conf"),
			"/etc/init-peer.conf":   filepath.Join(root, "servers", "init", "peer.conf"),
			"/etc/resolv.conf":      filepath.Join(root, "servers", "resolved", "etc", "resolv.conf"),
			"/etc/hosts":            filepath.Join(root, "servers", "resolved", "etc", "hosts"),
			"/etc/nsswitch.conf":    filepath.Join(root, "servers", "resolved", "etc", "nsswitch.conf"),
		})
	})
	require.NoError(tb, imageErr)
	return imagePath
}

// runPrograms boots the kernel with the test image running cmds (each a
// command line) and returns the console output, after the checks every
// such run must pass: a clean power off, no failure marker, and a census
// after the processes equal to the one before (every page, thread, file
// and queue they held came back).
func runPrograms(t *testing.T, m Machine, cmds ...string) string {
	t.Helper()
	m.Image = testImage(t)
	m.Append = strings.TrimSpace(m.Append + " -- " + strings.Join(cmds, " -- "))
	out := boot(t, m)
	require.NotContains(t, out, FailMarker, out)
	require.Contains(t, out, PowerOffLine, out)
	before := regexp.MustCompile(`armos: census before (.*)\n`).FindStringSubmatch(out)
	after := regexp.MustCompile(`armos: census after  (.*)\n`).FindStringSubmatch(out)
	require.NotNil(t, before, out)
	require.NotNil(t, after, out)
	require.Equal(t, before[1], after[1], "everything the processes held must come back")
	return out
}

// exitStatus returns the status the kernel reported for the process name
// (the first one of that name), or fails.
func exitStatus(t *testing.T, out, name string) int {
	t.Helper()
	m := regexp.MustCompile(`armos: process ` + regexp.QuoteMeta(name) + ` \(pid \d+\) (?:exited with status|killed by signal \d+ \(status) (\d+)`).FindStringSubmatch(out)
	require.NotNil(t, m, "no exit line for %s in:\n%s", name, out)
	n, _ := strconv.Atoi(m[1])
	return n
}

// summary requires a program's "N passed, 0 failed" line.
func summary(t *testing.T, out, name string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `: (\d+) passed, (\d+) failed$`).FindStringSubmatch(out)
	require.NotNil(t, m, "%s printed no summary:\n%s", name, out)
	require.Equal(t, "0", m[2], "%s had failures:\n%s", name, out)
	n, _ := strconv.Atoi(m[1])
	require.Greater(t, n, 0)
}

// requireWrites requires that process name wrote the pieces in order, each
// with one write: each piece lies within one of its console lines, right
// after the one before it or, where the kernel broke the line because
// another process wrote in between, at the start of a later line.
func requireWrites(t *testing.T, out, name string, pieces ...string) {
	t.Helper()
	require.True(t, wrotePieces(out, name, pieces...), "%s did not write %q in:\n%s", name, pieces, out)
}

// wrotePieces is requireWrites's test.
func wrotePieces(out, name string, pieces ...string) bool {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, name+": "); ok {
			lines = append(lines, rest)
		}
	}
	// match reports whether pieces[i:] follow from line li, column col.
	var match func(i, li, col int) bool
	match = func(i, li, col int) bool {
		if i == len(pieces) {
			return true
		}
		if strings.HasPrefix(lines[li][col:], pieces[i]) && match(i+1, li, col+len(pieces[i])) {
			return true
		}
		if col == len(lines[li]) {
			for next := li + 1; next < len(lines); next++ {
				if strings.HasPrefix(lines[next], pieces[i]) && match(i+1, next, len(pieces[i])) {
					return true
				}
			}
		}
		return false
	}
	for li, l := range lines {
		for col := 0; col+len(pieces[0]) <= len(l); col++ {
			if match(0, li, col) {
				return true
			}
		}
	}
	return false
}

// TestWrotePieces checks the matcher TestProcesses relies on, without a boot.
func TestWrotePieces(t *testing.T) {
	pieces := []string{"[signal ", "SIGSEGV: x", " addr=", "0x0"}
	whole := "armos: x\nexitcode: [signal SIGSEGV: x addr=0x0 pc=0x1]\n"
	split := "exitcode: [signal \nexitcode: panic: boom\nother: y\nexitcode: SIGSEGV: x addr=\nexitcode: 0x0 pc=0x1]\n"
	assert.True(t, wrotePieces(whole, "exitcode", pieces...))
	assert.True(t, wrotePieces(split, "exitcode", pieces...))
	assert.False(t, wrotePieces(whole, "other", pieces...), "another process's lines")
	assert.False(t, wrotePieces("exitcode: [signal SIGSEGV: \nexitcode: x addr=0x0\n", "exitcode", pieces...), "split inside a piece")
	assert.False(t, wrotePieces("exitcode: [signal \nexitcode: junk SIGSEGV: x addr=0x0\n", "exitcode", pieces...), "a later piece not at a line's start")
	assert.False(t, wrotePieces("exitcode: SIGSEGV: x addr=0x0\nexitcode: [signal \n", "exitcode", pieces...), "out of order")
}

// TestProcesses runs the Go runtime suite and the process suite side by
// side with programs that exit in every way: status codes, an unrecovered
// panic, a nil dereference (a Go panic from a delivered SIGSEGV). Each
// line of a process's output reaches the console prefixed with its name.
func TestProcesses(t *testing.T) {
	t.Parallel()
	out := runPrograms(t, Machine{MemoryMiB: 512, Append: "armos.strace=hello"},
		"gort", "hello", "exitcode 3", "exitcode -panic", "exitcode -segv", "spawn", "pingpong -n 200",
		"regs -seed 1 -rounds 2000000", "regs -seed 2 -rounds 2000000",
		"regs -fp -seed 3 -rounds 400000", "regs -fp -seed 4 -rounds 400000")
	summary(t, out, "gort")     // goroutines, timers, GC, faults, preemption, signals, pipes, epoll...
	summary(t, out, "spawn")    // os/exec: vfork+execve, pipes, wait4, kill
	summary(t, out, "pingpong") // pipes between processes, futexes between threads
	require.Contains(t, out, "\nhello: hello from EL0\n")
	require.Equal(t, 0, exitStatus(t, out, "hello"))
	require.Equal(t, 0, exitStatus(t, out, "gort"))
	// Three exitcode processes: statuses 3, 2 (panic) and 2 (SIGSEGV).
	statuses := regexp.MustCompile(`armos: process exitcode \(pid \d+\) exited with status (\d+)`).FindAllStringSubmatch(out, -1)
	require.Len(t, statuses, 3)
	var got []string
	for _, s := range statuses {
		got = append(got, s[1])
	}
	require.ElementsMatch(t, []string{"3", "2", "2"}, got)
	// The two exitcode processes that panic write at once, and Go's runtime
	// prints a panic in pieces, one write each: the kernel ends a line
	// where another process's output cuts in, so a message may be split
	// between any two of its pieces (and only there).
	requireWrites(t, out, "exitcode", "panic: ", "exitcode: deliberate panic")
	requireWrites(t, out, "exitcode", "panic: ", "runtime error: invalid memory address or nil pointer dereference")
	requireWrites(t, out, "exitcode", "[signal ", "SIGSEGV: segmentation violation", " code=", "0x1", " addr=", "0x0", " pc=")
	require.NotContains(t, out, "not implemented", "every call these programs make is served")
	// Every general register, x18 included, survives preemption by the
	// other processes (two regs processes with different values spin at
	// once), and so does every FP/SIMD register (two more, with -fp), across
	// system calls whose copies use the kernel's SIMD registers and the
	// runtime's preemption signals too.
	require.Equal(t, 4, strings.Count(out, "regs: 1 passed, 0 failed"), out)
	require.Equal(t, 2, strings.Count(out, "regs: ok fp registers"), out)

	// armos.strace=hello traces hello's system calls, and only hello's:
	// its write of the greeting with the bytes written, and its end.
	require.Regexp(t, `strace: hello\[\d+\] \+\d+ write\(0x1, 0x[0-9a-f]+, 0xf\) = 0xf\n`, out)
	require.Regexp(t, `strace: hello\[\d+\] \+\d+ exit_group\(0x0, 0x0, 0x0\) \.\.\. ended\n`, out)
	require.Regexp(t, `strace: hello\[\d+\] \+\d+ rt_sigaction\(`, out)
	require.NotContains(t, out, "strace: gort[")
}

// TestProcessChurn is the stress test: 1000 processes are started and end
// (four at a time) while other processes fault, map and unmap memory and
// allocate; afterwards the census is back where it started.
func TestProcessChurn(t *testing.T) {
	t.Parallel()
	out := runPrograms(t, Machine{MemoryMiB: 512}, "spawn -run churn -churn 1000", "gort -run gc|mmap|fault|threads", "memhog -max 96", "badptr")
	require.Regexp(t, `spawn: churn: 1000 children in \S+, 0 failed`, out)
	summary(t, out, "spawn")
	summary(t, out, "gort")
	summary(t, out, "badptr")
	require.Equal(t, 0, exitStatus(t, out, "memhog"))
}

// TestInterruptLatency runs a mixed load (process creation and teardown,
// faults, pipes, a thread bomb, the fuzzer) under -icount shift=0, where
// the counter measures guest instructions, and bounds the longest time the
// kernel kept interrupts masked: a trap or a locked section.
func TestInterruptLatency(t *testing.T) {
	t.Parallel()
	out := runPrograms(t, Machine{MemoryMiB: 512, Extra: []string{"-icount", "shift=0"}},
		"spawn", "gort", "memhog", "GOTRACEBACK=none threadbomb", "pingpong -n 100", "sysfuzz -seed 7 -count 1000 -timeout 60s",
		"ipctest -run sizes|call|libipc", "ipctest -fuzz 5000 -seed 11")
	m := regexp.MustCompile(`armos: longest interrupts-masked interval (\d+) ns of counter time \(guest instructions under -icount shift=0\) in (.*)\n`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	n, _ := strconv.Atoi(m[1])
	t.Logf("longest interrupts-masked interval: %d instructions, in %s", n, m[2])
	require.LessOrEqual(t, n, 100_000, "interrupts masked for %d instructions in %s", n, m[2])
}

// TestPANStopsKernelAccessToUserMemory boots on a CPU with PAN (-cpu max)
// and has the kernel read process memory through the user's address, which
// it must never do: PAN turns that into a permission fault in trap code,
// with the fault report, instead of a silent read.
func TestPANStopsKernelAccessToUserMemory(t *testing.T) {
	t.Parallel()
	m := Machine{Append: "armos.debug=1 -- exitcode -kernelpeek", Image: testImage(t), CPU: "max"}
	out := boot(t, m)
	require.Contains(t, out, "armos: fatal exception, kind 4 (fault inside trap code)", out)
	require.Regexp(t, `permission fault, read\)`, out)
	require.NotContains(t, out, "kernel peek returned")
}

// TestHostilePrograms runs the programs that attack the kernel: bad
// pointers to every call (EFAULT, the process lives on), allocating until
// the memory limit (only it dies, its memory returns), threads without
// limit (a clear limit), and a syscall fuzzer. The kernel stays up and
// the census comes back to where it started.
func TestHostilePrograms(t *testing.T) {
	t.Parallel()
	cmds := []string{"badptr", "memhog", "GOTRACEBACK=none threadbomb"}
	for seed := 1; seed <= 4; seed++ {
		cmds = append(cmds, "sysfuzz -seed "+strconv.Itoa(seed)+" -count 2000 -timeout 60s")
	}
	out := runPrograms(t, Machine{MemoryMiB: 512}, cmds...)
	summary(t, out, "badptr")
	require.Equal(t, 0, exitStatus(t, out, "badptr"))
	require.Regexp(t, `armos: process memhog \(pid \d+\) killed by SIGKILL \(out of memory: reached its limit of \d+ MiB\)`, out)
	require.Equal(t, 137, exitStatus(t, out, "memhog"))
	require.Regexp(t, `armos: process threadbomb \(pid \d+\) reached its thread limit \(\d+\): clone fails with EAGAIN`, out)
	require.Contains(t, out, "threadbomb: runtime: failed to create new OS thread")
	require.NotEqual(t, 0, exitStatus(t, out, "threadbomb"))
	fuzzed := regexp.MustCompile(`sysfuzz: sysfuzz: (\d+) calls`).FindAllStringSubmatch(out, -1)
	require.Len(t, fuzzed, 4, "every fuzzer run finishes (exits or is killed, the kernel lives)")
}

// TestBadImagesAreRefused puts programs the kernel must refuse into the
// image (not ELF, truncated, another machine's, dynamically linked): each
// gets a line naming it and why, and the kernel carries on with the good
// one.
func TestBadImagesAreRefused(t *testing.T) {
	t.Parallel()
	kernel(t)
	dir := t.TempDir()
	hello, err := os.ReadFile(filepath.Join(filepath.Dir(testImage(t)), "bin", "hello"))
	require.NoError(t, err)
	self, err := os.ReadFile("/proc/self/exe") // the host's own (x86-64, dynamic) test binary
	require.NoError(t, err)
	files := map[string][]byte{
		"notelf":    []byte("#!/bin/sh\necho not an ELF\n"),
		"truncated": hello[:3000],
		"hostbin":   self,
	}
	extra := map[string]string{}
	for name, b := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o755))
		extra["/bin/"+name] = p
	}
	img, err := BuildImage(filepath.Join(dir, "img"), []string{"apps/hello"}, extra)
	require.NoError(t, err)
	out := boot(t, Machine{Image: img, Append: "-- notelf -- truncated -- hostbin -- hello"})
	require.Contains(t, out, "armos: cannot start /bin/notelf: /bin/notelf: not an ELF64 little-endian file")
	require.Regexp(t, `armos: cannot start /bin/truncated: /bin/truncated: (segment \d+: )?malformed ELF`, out)
	require.Contains(t, out, "armos: cannot start /bin/hostbin: /bin/hostbin: not a static linux/arm64 executable: machine 62")
	require.Contains(t, out, "\nhello: hello from EL0\n")
	require.NotContains(t, out, FailMarker)
	require.Contains(t, out, PowerOffLine)
}

// TestASIDRollover runs process-heavy programs with only 4 ASIDs, so the
// ASID space rolls over again and again (each rollover flushes the TLB
// once): processes keep their memory apart regardless.
func TestASIDRollover(t *testing.T) {
	t.Parallel()
	out := runPrograms(t, Machine{Append: "armos.asids=4"}, "spawn", "gort -run threads|gc|pipe", "pingpong -n 50")
	summary(t, out, "spawn")
	summary(t, out, "pingpong")
	m := regexp.MustCompile(`armos: asid rollovers (\d+)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	n, _ := strconv.Atoi(m[1])
	require.Greater(t, n, 2, "with 3 usable ASIDs and a dozen processes the space must roll over")
}

// TestDeviceGrants: a driver process reaches exactly the devices granted
// to it (docs/devices.md). Two virtio-rng devices sit in neighbouring
// virtio-mmio slots of one page: the process granted one reads and writes
// its registers through the kernel, cannot reach the neighbour's, and
// cannot map the shared page; a process with no grant reaches nothing; a
// grant of a device the machine lacks stops that command alone. Alone on
// its page, a granted device is mapped into the process and driven
// directly. Either way the driver runs one virtio-rng request: a
// virtqueue in shared memory at a physical address the kernel reveals,
// the device's interrupt received on an interrupt object (masked until
// the driver acknowledges it), the used ring read back.
func TestDeviceGrants(t *testing.T) {
	t.Parallel()
	rng := []string{"-device", "virtio-rng-device"}
	t.Run("shared-page", func(t *testing.T) {
		t.Parallel()
		out := runPrograms(t, Machine{MemoryMiB: 256, Extra: append(append([]string{}, rng...), rng...)},
			"grant:rng devtest -kind 4 -map shared", "devtest -none", "grant:net devtest -none")
		require.Equal(t, 2, strings.Count(out, "virtio: slot "), "two devices: %s", out)
		require.Contains(t, out, "devtest: 5 passed, 0 failed")
		require.Contains(t, out, "devtest: 1 passed, 0 failed")
		require.Contains(t, out, "armos: cannot start a command: grant:net: no such device free")
	})
	t.Run("own-page", func(t *testing.T) {
		t.Parallel()
		out := runPrograms(t, Machine{MemoryMiB: 256, Extra: rng}, "grant:rng devtest -kind 4 -map exclusive")
		require.Contains(t, out, "devtest: 5 passed, 0 failed")
		require.Equal(t, 0, exitStatus(t, out, "devtest"))
	})
	// From init, as the system's drivers get them: device=rng gives one
	// app the device (it attaches it and drives it); another app of the
	// same init has no device, may not open one and cannot attach
	// anything.
	t.Run("from-init", func(t *testing.T) {
		t.Parallel()
		out := runPrograms(t, Machine{MemoryMiB: 256, Extra: rng},
			"init -conf /etc/none -exit app,driver,device=rng,/bin/devtest,-env,-kind,4,-map,exclusive app,other,/bin/devtest,-none,-child")
		require.Contains(t, out, "devtest: ok attach-from-init")
		require.Contains(t, out, "devtest: ok irq-virtqueue")
		require.Contains(t, out, "devtest: 6 passed, 0 failed")
		require.Contains(t, out, "devtest: ok no-open")
		require.Contains(t, out, "devtest: 2 passed, 0 failed")
		require.Regexp(t, `init: driver \(pid \d+\) exited with status 0`, out)
		require.Regexp(t, `init: other \(pid \d+\) exited with status 0`, out)
	})
}

// TestConsoleInput: what is typed on the serial console reaches a process
// reading its standard input (the kernel's console descriptor), line by
// line, blocking in between — the serial shell's input path.
func TestConsoleInput(t *testing.T) {
	t.Parallel()
	m := Machine{MemoryMiB: 256, Image: testImage(t), Append: "-- conread"}
	l, err := StartLive(exec.Command("qemu-system-aarch64", m.Args(kernel(t))...))
	require.NoError(t, err)
	defer l.Kill()
	_, at, err := l.WaitFor(regexp.MustCompile(`conread: ready`), 0, 2*time.Minute)
	require.NoError(t, err, l.Output())
	time.Sleep(200 * time.Millisecond) // blocked in its read by now
	require.NoError(t, l.Type("hello armos\n"))
	_, at, err = l.WaitFor(regexp.MustCompile(`conread: got "hello armos"`), at, time.Minute)
	require.NoError(t, err, l.Output())
	require.NoError(t, l.Type("second line\nquit\n"))
	_, _, err = l.WaitFor(regexp.MustCompile(`conread: got "second line"\n(.*\n)*conread: conread: bye`), at, time.Minute)
	require.NoError(t, err, l.Output())
	require.NoError(t, l.Wait(time.Minute))
	require.Contains(t, l.Output(), PowerOffLine)
	require.Regexp(t, `armos: process conread \(pid \d+\) exited with status 0`, l.Output())
}

// TestPs: the process list (armos_proc_list through libsys) shows the
// kernel, init and the processes init started, with their parents.
func TestPs(t *testing.T) {
	t.Parallel()
	out := runPrograms(t, Machine{MemoryMiB: 256}, "init -conf /etc/none -exit service,echo,/bin/echo app,ps,/bin/ps")
	require.Regexp(t, `ps:\s+PID\s+PPID STATE\s+THR\s+MEM\(KiB\)\s+FDS\s+MSGQ\s+CPU\(ms\)\s+NAME`, out)
	init := regexp.MustCompile(`ps:\s+(\d+)\s+\d+ running\s+\d+\s+\d+\s+\d+\s+\d+\s+[0-9.]+\s+init\n`).FindStringSubmatch(out)
	require.NotNil(t, init, out)
	require.Regexp(t, `ps:\s+\d+\s+`+init[1]+` running\s+\d+\s+\d+\s+\d+\s+\d+\s+[0-9.]+\s+ps\n`, out, "ps itself, init's child")
	require.Regexp(t, `ps:\s+\d+\s+\d+ running\s+\d+\s+\d+\s+\d+\s+\d+\s+[0-9.]+\s+kernel\n`, out)
	require.Regexp(t, `init: ps \(pid \d+\) exited with status 0`, out)
}
