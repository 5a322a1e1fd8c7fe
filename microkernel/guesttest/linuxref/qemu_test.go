package linuxref

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMachineArgs(t *testing.T) {
	g := Guest{Kernel: "vmlinuz", Initrd: "initrd.cpio"}
	require.Equal(t, []string{"-M", "virt", "-cpu", "cortex-a72", "-m", "128M", "-nographic", "-no-reboot",
		"-net", "none", "-kernel", "vmlinuz", "-initrd", "initrd.cpio",
		"-append", "console=ttyAMA0 quiet panic=-1 linuxref.poweroff"},
		Machine{MemoryMiB: 128, Options: Options{PowerOff: true}}.Args(g))

	require.Equal(t, []string{"-M", "virt", "-cpu", "cortex-a72", "-m", "256M", "-nographic", "-no-reboot",
		"-netdev", "user,id=n0,hostfwd=udp:127.0.0.1:5556-:7", "-device", "virtio-net-device,netdev=n0",
		"-kernel", "vmlinuz", "-initrd", "initrd.cpio",
		"-append", "console=ttyAMA0 quiet panic=-1 linuxref.net=10.0.2.15/24", "-icount", "shift=0"},
		Machine{EchoPort: 5556, Extra: []string{"-icount", "shift=0"}}.Args(g))

	require.Equal(t, []string{"-M", "virt", "-cpu", "cortex-a72", "-m", "512M", "-nographic", "-no-reboot",
		"-net", "none", "-kernel", "vmlinuz", "-initrd", "initrd.cpio",
		"-append", "console=ttyAMA0 quiet panic=-1 kpti=0 linuxref.run=/bin/sysbench,all linuxref.poweroff",
		"-icount", "shift=0", "-d", "guest_errors"},
		Machine{MemoryMiB: 512, Icount: true, Cmdline: " kpti=0 ", Extra: []string{"-d", "guest_errors"},
			Options: Options{PowerOff: true, Run: [][]string{{"/bin/sysbench", "all"}}}}.Args(g))
}

func TestWatcherTimesMarkersSplitAcrossWrites(t *testing.T) {
	w := newWatcher(ReadyMarker, EchoReadyMarker)
	w.start = time.Now().Add(-time.Second)
	changed := w.changed
	_, _ = w.Write([]byte("[ 0.1] boot\nlinuxref: re"))
	select {
	case <-changed:
	default:
		t.Fatal("a write wakes waiters")
	}
	require.NotContains(t, w.at, ReadyMarker)
	_, _ = w.Write([]byte("ady in 1.0 ms; memory in use 1 KiB of 2 KiB\n"))
	require.Contains(t, w.at, ReadyMarker)
	require.GreaterOrEqual(t, w.at[ReadyMarker], time.Second)
	first := w.at[ReadyMarker]
	_, _ = w.Write([]byte("linuxref: ready again\n"))
	require.Equal(t, first, w.at[ReadyMarker], "the first appearance counts")
	require.NotContains(t, w.at, EchoReadyMarker)
	require.Equal(t, "[ 0.1] boot\nlinuxref: ready in 1.0 ms; memory in use 1 KiB of 2 KiB\nlinuxref: ready again\n", w.buf.String())
}

// fakeQEMU puts a qemu-system-aarch64 on PATH that runs script (sh) and
// records its arguments in DIR/args.
func fakeQEMU(t *testing.T, script string) string {
	dir := t.TempDir()
	p := filepath.Join(dir, "qemu-system-aarch64")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\necho \"$@\" > "+dir+"/args\n"+script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func TestBootParsesTheGuestsLines(t *testing.T) {
	dir := fakeQEMU(t, `echo '[    1.0] Run /init as init process'
sleep 0.05
printf 'linuxref: ready in 812.5 ms; counter 1500.0 ms; memory in use 20112 KiB of 103000 KiB\r\n'
echo 'linuxref: power off'
exit 0
`)
	res, err := Boot(Guest{Kernel: "vmlinuz", Initrd: "initrd"}, Machine{MemoryMiB: 128}, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, Ready{UptimeMS: 812.5, CounterMS: 1500, InUseKiB: 20112, TotalKiB: 103000}, res.Ready)
	require.GreaterOrEqual(t, res.ReadyAfter, 50*time.Millisecond, "timed from QEMU's start to the ready line")
	require.GreaterOrEqual(t, res.Elapsed, res.ReadyAfter)
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	require.NoError(t, err)
	require.Contains(t, string(args), "-m 128M")
	require.Contains(t, string(args), "linuxref.poweroff", "Boot asks the guest to power off")
}

func TestBootReportsGuestFailure(t *testing.T) {
	fakeQEMU(t, "echo 'LINUXREF-FAIL meminfo: no such file'\nexec sleep 30\n")
	start := time.Now()
	_, err := Boot(Guest{}, Machine{}, 20*time.Second)
	require.ErrorContains(t, err, "LINUXREF-FAIL meminfo: no such file")
	require.Less(t, time.Since(start), 15*time.Second, "a failed guest is stopped, not waited out")
}

func TestBootReportsFailureAfterReady(t *testing.T) {
	fakeQEMU(t, `echo 'linuxref: ready in 1.0 ms; counter 1.5 ms; memory in use 1 KiB of 2 KiB'
echo 'LINUXREF-FAIL cannot start /bin/nothere: no such file or directory'
echo 'linuxref: power off'
`)
	res, err := Boot(Guest{}, Machine{}, 10*time.Second)
	require.ErrorContains(t, err, "guest failed: LINUXREF-FAIL cannot start /bin/nothere")
	require.Equal(t, 1, res.Ready.InUseKiB, "the result is still filled in")
}

func TestWaitForQEMUExitingEarly(t *testing.T) {
	fakeQEMU(t, "echo 'qemu-system-aarch64: -kernel vmlinuz: no such file' >&2\nexit 1\n")
	in, err := Start(Guest{}, Machine{EchoPort: 5599}, 10*time.Second)
	require.NoError(t, err)
	_, err = in.WaitFor(EchoReadyMarker)
	require.ErrorContains(t, err, "qemu exited before")
	require.ErrorContains(t, err, "no such file")
	require.Error(t, in.Wait())
}

func TestStartWithoutQEMU(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(Guest{}, Machine{}, time.Second)
	require.ErrorContains(t, err, "qemu-system-aarch64")
}
