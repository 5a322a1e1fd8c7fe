package linuxref

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInitramfsLayout(t *testing.T) {
	dir := t.TempDir()
	var mods []string
	for _, n := range []string{"virtio_ring.ko", "virtio.ko"} {
		p := filepath.Join(dir, n)
		require.NoError(t, os.WriteFile(p, []byte("module "+n), 0o644))
		mods = append(mods, p)
	}
	prog := filepath.Join(dir, "sysbench")
	require.NoError(t, os.WriteFile(prog, []byte("\x7fELF sysbench"), 0o600))
	img, err := Initramfs([]byte("\x7fELF init"), mods,
		GuestFile{Path: "/bin/sysbench", Host: prog}, GuestFile{Path: "/etc/x/conf", Host: prog, Mode: 0o644})
	require.NoError(t, err)

	es, n, err := ReadCPIO(img)
	require.NoError(t, err)
	require.Equal(t, len(img), n)
	byName := map[string]Entry{}
	for _, e := range es {
		byName[e.Name] = e
	}
	initE := byName["init"]
	require.Equal(t, uint32(ModeRegular|0o755), initE.Mode)
	require.Equal(t, "\x7fELF init", string(initE.Data))
	console := byName["dev/console"]
	require.Equal(t, uint32(ModeCharDev|0o600), console.Mode)
	require.Equal(t, [2]uint32{5, 1}, [2]uint32{console.RDevMajor, console.RDevMinor})
	for _, d := range []string{"proc", "sys", "dev", "lib/modules", "etc/linuxref"} {
		require.Equal(t, uint32(ModeDir|0o755), byName[d].Mode, d)
	}
	require.Equal(t, "module virtio.ko", string(byName["lib/modules/virtio.ko"].Data))
	require.Equal(t, "/lib/modules/virtio_ring.ko\n/lib/modules/virtio.ko\n",
		string(byName[GuestModuleList[1:]].Data), "the list keeps the load order")

	sb := byName["bin/sysbench"]
	require.Equal(t, uint32(ModeRegular|0o755), sb.Mode, "extra files are executable by default")
	require.Equal(t, "\x7fELF sysbench", string(sb.Data))
	require.Equal(t, uint32(ModeDir|0o755), byName["bin"].Mode, "parents are created")
	require.Equal(t, uint32(ModeRegular|0o644), byName["etc/x/conf"].Mode)

	_, err = Initramfs(nil, []string{filepath.Join(dir, "missing.ko")})
	require.Error(t, err)
	_, err = Initramfs(nil, nil, GuestFile{Path: "/bin/x", Host: filepath.Join(dir, "missing")})
	require.Error(t, err)
}
