package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"armos/microkernel/internal/cpio"
	"github.com/stretchr/testify/require"
)

// writePattern writes an n-byte file of Pattern bytes.
func writePattern(t *testing.T, path string, n int64) {
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	for i := int64(0); i < n; i++ {
		require.NoError(t, w.WriteByte(Pattern(uint64(i))))
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
}

// buildGuest links guestcheck as a bare-metal ELF at QEMU virt's RAM.
func buildGuest(t *testing.T, dir string) string {
	elf := filepath.Join(dir, "guestcheck.elf")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-T 0x40201000 -E main.entry -R 0x1000", "-o", elf, ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return elf
}

// runGuest boots the ELF with the given -fw_cfg files and returns the
// console output.
func runGuest(t *testing.T, elf string, files map[string]string) string {
	args := []string{"-M", "virt", "-cpu", "cortex-a72", "-m", "128M", "-nographic", "-net", "none",
		"-no-reboot", "-kernel", elf}
	for name, path := range files {
		args = append(args, "-fw_cfg", "name="+name+",file="+path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "qemu-system-aarch64", args...).CombinedOutput()
	require.NoError(t, err, "qemu: %s", out)
	return strings.ReplaceAll(string(out), "\r", "")
}

// TestGuestCheckInQEMU boots guestcheck against QEMU's fw_cfg with pattern
// files of several sizes (GUESTCHECK_SIZE adds one, e.g. 100000000) and a
// small cpio image.
func TestGuestCheckInQEMU(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-aarch64"); err != nil {
		t.Skip("qemu-system-aarch64 not installed (apt-get install qemu-system-arm)")
	}
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	dir := t.TempDir()
	elf := buildGuest(t, dir)

	var img bytes.Buffer
	w := cpio.NewWriter(&img)
	require.NoError(t, w.Write(cpio.Entry{Name: "bin", Mode: cpio.ModeDir | 0o755}))
	require.NoError(t, w.Close())
	imgPath := filepath.Join(dir, "armos.img")
	require.NoError(t, os.WriteFile(imgPath, img.Bytes(), 0o644))

	sizes := []int64{1, 100, 3<<20 + 5}
	if s := os.Getenv("GUESTCHECK_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		sizes = append(sizes, n)
	}
	for _, size := range sizes {
		pat := filepath.Join(dir, "pattern.bin")
		writePattern(t, pat, size)
		out := runGuest(t, elf, map[string]string{"opt/armos/test": pat, "opt/armos/image": imgPath})
		t.Logf("size %d:\n%s", size, out)
		require.Contains(t, out, "guestcheck: PASS", "size %d", size)
		require.NotContains(t, out, "error:")
		require.Contains(t, out, "features 0x3\n", "traditional and DMA interfaces")
		require.Contains(t, out, "selftest ok\n")
		require.Contains(t, out, " size 0x"+strconv.FormatInt(size, 16)+"\n")
		require.Contains(t, out, "opt/armos/image starts with 070701")
	}

	// Without the image file, the check says so and still passes.
	pat := filepath.Join(dir, "pattern.bin")
	writePattern(t, pat, 4096)
	out := runGuest(t, elf, map[string]string{"opt/armos/test": pat})
	require.Contains(t, out, "no opt/armos/image")
	require.Contains(t, out, "guestcheck: PASS")

	// The check can fail: one wrong byte in the file is found.
	b, err := os.ReadFile(pat)
	require.NoError(t, err)
	b[4095] ^= 0xff
	require.NoError(t, os.WriteFile(pat, b, 0o644))
	out = runGuest(t, elf, map[string]string{"opt/armos/test": pat})
	require.Contains(t, out, "readat mismatch at 0xfff")
	require.Contains(t, out, "guestcheck: FAIL")

	// And without the test file it reports that.
	out = runGuest(t, elf, map[string]string{"opt/armos/image": imgPath})
	require.Contains(t, out, "error: find opt/armos/test: fwcfg: file not found")
	require.Contains(t, out, "guestcheck: FAIL")
}
