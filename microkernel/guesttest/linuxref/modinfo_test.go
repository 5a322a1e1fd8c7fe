package linuxref

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// virtioNetModinfo is shaped like the .modinfo of Debian 6.1's virtio_net.ko.
const virtioNetModinfo = "license=GPL\x00description=Virtio network driver\x00alias=virtio:d00000001v*\x00" +
	"depends=virtio_ring,virtio,net_failover\x00retpoline=Y\x00intree=Y\x00name=virtio_net\x00" +
	"vermagic=6.1.0-56-cloud-arm64 SMP mod_unload modversions aarch64\x00alias=net-pf-1\x00"

func TestParseModinfo(t *testing.T) {
	info := ParseModinfo([]byte(virtioNetModinfo))
	require.Equal(t, []string{"virtio_net"}, info["name"])
	require.Equal(t, []string{"virtio:d00000001v*", "net-pf-1"}, info["alias"])
	require.Equal(t, []string{"virtio_ring", "virtio", "net_failover"}, Depends(info))

	noDeps := ParseModinfo([]byte("depends=\x00name=virtio_ring\x00\x00junk\x00=x\x00"))
	require.Empty(t, Depends(noDeps))
	require.NotContains(t, noDeps, "", "empty keys are skipped")
	require.NotContains(t, noDeps, "junk", "strings without = are skipped")
}

// minimalModule writes an ELF64 relocatable object whose only sections are
// .modinfo (holding modinfo) and .shstrtab, like a stripped-down .ko.
func minimalModule(t *testing.T, dir, name, modinfo string) string {
	t.Helper()
	shstr := "\x00.modinfo\x00.shstrtab\x00"
	const ehsize, shentsize = 64, 64
	infoOff := ehsize
	strOff := infoOff + len(modinfo)
	shOff := (strOff + len(shstr) + 7) &^ 7
	b := make([]byte, shOff+3*shentsize)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // ELFCLASS64, little endian, EV_CURRENT
	le := binary.LittleEndian
	le.PutUint16(b[16:], 1)   // ET_REL
	le.PutUint16(b[18:], 183) // EM_AARCH64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[40:], uint64(shOff))
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[58:], shentsize)
	le.PutUint16(b[60:], 3) // section count
	le.PutUint16(b[62:], 2) // .shstrtab index
	copy(b[infoOff:], modinfo)
	copy(b[strOff:], shstr)
	sec := func(i int, nameOff, typ uint32, off, size int) {
		s := b[shOff+i*shentsize:]
		le.PutUint32(s[0:], nameOff)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(size))
		le.PutUint64(s[48:], 1)
	}
	sec(1, 1, 1, infoOff, len(modinfo)) // .modinfo, SHT_PROGBITS
	sec(2, 10, 3, strOff, len(shstr))   // .shstrtab, SHT_STRTAB
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

func TestModuleInfoFromELF(t *testing.T) {
	dir := t.TempDir()
	p := minimalModule(t, dir, "virtio_net.ko", virtioNetModinfo)
	deps, err := FileDepends(p)
	require.NoError(t, err)
	require.Equal(t, []string{"virtio_ring", "virtio", "net_failover"}, deps)

	notELF := filepath.Join(dir, "x.ko")
	require.NoError(t, os.WriteFile(notELF, []byte("not an ELF file"), 0o644))
	_, err = FileDepends(notELF)
	require.ErrorContains(t, err, notELF)
}

func TestNetModuleOrderFromTree(t *testing.T) {
	dir := t.TempDir()
	mods := filepath.Join(dir, "root", "lib", "modules", "6.1.0-1-cloud-arm64")
	drv := filepath.Join(mods, "kernel", "drivers")
	minimalModule(t, drv, "virtio/virtio_ring.ko", "depends=\x00")
	minimalModule(t, drv, "virtio/virtio.ko", "depends=virtio_ring\x00")
	minimalModule(t, drv, "virtio/virtio_mmio.ko", "depends=virtio,virtio_ring\x00")
	minimalModule(t, mods, "kernel/net/core/failover.ko", "depends=\x00")
	minimalModule(t, drv, "net/net_failover.ko", "depends=failover\x00")
	minimalModule(t, drv, "net/virtio_net.ko", virtioNetModinfo)
	minimalModule(t, drv, "net/unrelated.ko", "depends=\x00")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "root", "boot"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "root", "boot", "vmlinuz-6.1.0-1-cloud-arm64"), nil, 0o644))

	a, err := Locate(dir)
	require.NoError(t, err)
	order, err := NetModuleOrder(a)
	require.NoError(t, err)
	var names []string
	for _, p := range order {
		names = append(names, moduleName(p))
	}
	require.Equal(t, []string{"virtio_ring", "virtio", "virtio_mmio", "failover", "net_failover", "virtio_net"}, names)
}

func TestLoadOrder(t *testing.T) {
	graph := map[string][]string{
		"virtio_net": {"virtio", "net_failover"}, "net_failover": {"failover"},
		"virtio": {"virtio_ring"}, "virtio_ring": nil, "failover": nil,
		"loop_a": {"loop_b"}, "loop_b": {"loop_a"}, "needs_builtin": {"crc32c"},
		"needs_missing": {"nowhere"},
	}
	idx := map[string]string{}
	for n := range graph {
		idx[n] = n + ".ko"
	}
	deps := func(p string) ([]string, error) { return graph[moduleName(p)], nil }
	builtin := map[string]bool{"crc32c": true}

	order, err := LoadOrder(idx, builtin, []string{"virtio_net", "virtio"}, deps)
	require.NoError(t, err)
	require.Equal(t, []string{"virtio_ring.ko", "virtio.ko", "failover.ko", "net_failover.ko", "virtio_net.ko"}, order)

	order, err = LoadOrder(idx, builtin, []string{"needs-builtin"}, deps)
	require.NoError(t, err, "dashes read as underscores; built-in dependencies need no file")
	require.Equal(t, []string{"needs_builtin.ko"}, order)

	_, err = LoadOrder(idx, builtin, []string{"loop_a"}, deps)
	require.ErrorContains(t, err, "cycle")
	_, err = LoadOrder(idx, builtin, []string{"needs_missing"}, deps)
	require.ErrorContains(t, err, "nowhere not found")
	_, err = LoadOrder(idx, builtin, []string{"virtio"}, func(string) ([]string, error) {
		return nil, errors.New("unreadable")
	})
	require.ErrorContains(t, err, "unreadable")
}

func TestReadBuiltin(t *testing.T) {
	p := filepath.Join(t.TempDir(), "modules.builtin")
	require.NoError(t, os.WriteFile(p, []byte("kernel/lib/crc32c.ko\nkernel/drivers/virtio/virtio-anchor.ko\n\n"), 0o644))
	set, err := ReadBuiltin(p)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"crc32c": true, "virtio_anchor": true}, set)
	set, err = ReadBuiltin(filepath.Join(t.TempDir(), "absent"))
	require.NoError(t, err)
	require.Empty(t, set)
}

// FuzzParseModinfo: never panics; keys are non-empty and free of NUL and
// "="; writing the map back and parsing it again gives the same map.
func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte(virtioNetModinfo))
	f.Add([]byte("depends=\x00"))
	f.Add([]byte("a=b=c\x00\x00=\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info := ParseModinfo(b)
		var again []byte
		for k, vs := range info {
			require.NotEmpty(t, k)
			require.NotContains(t, k, "\x00")
			require.NotContains(t, k, "=")
			for _, v := range vs {
				require.NotContains(t, v, "\x00")
				again = append(again, k+"="+v+"\x00"...)
			}
		}
		require.Equal(t, info, ParseModinfo(again))
		for _, d := range Depends(info) {
			require.NotEmpty(t, d)
			require.NotContains(t, d, ",")
		}
	})
}
