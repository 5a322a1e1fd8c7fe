package dhcp

import (
	"bufio"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenFiles hold real exchanges with dnsmasq and with QEMU's slirp (see
// their headers; recorded by the client package's real-peer tests).
var goldenFiles = []string{"../client/testdata/dnsmasq.txt", "../client/testdata/slirp.txt"}

type golden struct {
	dir, typ string
	b        []byte
}

func readGolden(tb testing.TB) []golden {
	var out []golden
	for _, name := range goldenFiles {
		out = append(out, readGoldenFile(tb, name)...)
	}
	return out
}

func readGoldenFile(tb testing.TB, name string) []golden {
	f, err := os.Open(name)
	require.NoError(tb, err)
	defer f.Close()
	var out []golden
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "#") {
			continue
		}
		f := strings.Fields(s.Text())
		require.Len(tb, f, 3)
		b, err := hex.DecodeString(f[2])
		require.NoError(tb, err)
		out = append(out, golden{f[0], f[1], b})
	}
	return out
}

func goldenPackets(tb testing.TB) [][]byte {
	var out [][]byte
	for _, g := range readGolden(tb) {
		out = append(out, g.b)
	}
	return out
}

// TestGolden: every recorded message parses; the engine's own marshal
// back to the same bytes, dnsmasq's to a message that parses the same.
func TestGolden(t *testing.T) {
	gs := readGolden(t)
	require.NotEmpty(t, gs)
	for i, g := range gs {
		m, err := Parse(g.b)
		require.NoError(t, err, "line %d", i)
		assert.Equal(t, g.typ, m.Type().String())
		b, err := m.Marshal()
		require.NoError(t, err)
		if g.dir == "out" {
			assert.Equal(t, g.b, b, "line %d", i)
		}
		m2, err := Parse(b)
		require.NoError(t, err)
		assert.Equal(t, m, m2)
	}
}
