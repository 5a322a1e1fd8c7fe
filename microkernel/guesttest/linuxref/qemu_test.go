package linuxref

import (
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
