package guesttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// consolePattern is conwrite -n's stream: byte i is i mod 251.
func consolePattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// TestVirtioConsole: virtioconsd drives QEMU's virtio console (port 0 of
// a virtio-serial device whose chardev is a file on this host), granted
// by init (device=console), on the legacy and the modern transport;
// conwrite writes 1 MiB and 4,321 bytes of a known pattern through
// consproto, 32 KiB at a time. The file must hold exactly those bytes,
// and virtioconsd's counters, printed when init stops it at the end,
// must account for every one of them: 258 buffers of at most 4 KiB
// through a 128-entry ring (legacy, two wraps) or a 16-entry one
// (modern, sixteen wraps), nothing failed, refused, reset or lost.
// (QEMU's virtio-serial consumes a transmit buffer during the notify
// that offers it, so the ring seldom fills here; the host tests of
// servers/virtionetd/virtio and servers/virtioconsd cover a full ring.)
func TestVirtioConsole(t *testing.T) {
	t.Parallel()
	const size = 1<<20 + 4321
	for _, tc := range []struct {
		name   string
		modern bool
		queue  int
	}{{"legacy", false, 128}, {"modern", true, 16}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "hvc0.out")
			m := Machine{MemoryMiB: 256, Extra: []string{
				"-device", "virtio-serial-device", "-chardev", "file,id=hvc0,path=" + file, "-device", "virtconsole,chardev=hvc0"}}
			version := "1"
			if tc.modern {
				m.Extra = append(m.Extra, "-global", "virtio-mmio.force-legacy=false")
				version = "2"
			}
			out := runPrograms(t, m, fmt.Sprintf("init -conf /etc/none -exit "+
				"service,virtioconsd,device=console,/bin/virtioconsd,-queue,%d app,conwrite,/bin/conwrite,-n,%d", tc.queue, size))

			ready := regexp.MustCompile(`virtioconsd: ready hvc0 virtio-mmio v(\d) at 0x[0-9a-f]+ irq \d+ registers (mapped|mediated) queue (\d+)\n`).FindStringSubmatch(out)
			require.NotNil(t, ready, out)
			assert.Equal(t, version, ready[1], "the transport in use")
			assert.Equal(t, fmt.Sprint(tc.queue), ready[3])
			require.Contains(t, out, fmt.Sprintf("conwrite: done %d bytes to hvc0 in 33 writes, offset %d\n", size, size), out)
			require.Regexp(t, `init: conwrite \(pid \d+\) exited with status 0`, out)

			got, err := os.ReadFile(file)
			require.NoError(t, err)
			require.Len(t, got, size, "the host file holds every byte")
			require.True(t, string(consolePattern(size)) == string(got), "the host file holds the bytes written, in order")

			// The counters virtioconsd printed when init stopped it.
			c := regexp.MustCompile(`virtioconsd: hvc0: wrote (\d+) bytes in (\d+) chunks for (\d+) writes from (\d+) clients \((\d+) failed, (\d+) refused\); waited for the device (\d+) times`).FindStringSubmatch(out)
			require.NotNil(t, c, out)
			assert.Equal(t, []string{fmt.Sprint(size), "258", "33", "1", "0", "0"}, c[1:7], "bytes, chunks (32 KiB is 8 buffers; the last 4,321 bytes 2), writes, clients, failed, refused")
			for _, l := range regexp.MustCompile(`(?m)^virtioconsd: .*$`).FindAllString(out, -1) {
				t.Log(l)
			}
			assert.Contains(t, out, "virtioconsd: hvc0: input discarded 0 bytes in 0 chunks; held by the device 0 buffers, lost in resets 0 bytes\n")
			assert.Regexp(t, `virtioconsd: device: interrupts [1-9]\d*, config changes \d+, resets 0 \(bad used index 0, id 0, length 0, needs reset 0\)`, out)
		})
	}
}
