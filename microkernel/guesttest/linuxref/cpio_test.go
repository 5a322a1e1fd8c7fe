package linuxref

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// hdr spells out one newc header by hand: magic then the 13 fields.
func hdr(fields ...string) string {
	return "070701" + strings.Join(fields, "")
}

// goldenArchive is a directory "d" and a file "d/f" holding "hi", written
// out field by field from the format's definition.
var goldenArchive = hdr("00000001", "000041ED", "00000000", "00000000", "00000002", "00000000",
	"00000000", "00000000", "00000000", "00000000", "00000000", "00000002", "00000000") +
	"d\x00" + // 110+2 = 112, already a multiple of 4
	hdr("00000002", "000081A4", "00000000", "00000000", "00000001", "00000000",
		"00000002", "00000000", "00000000", "00000000", "00000000", "00000004", "00000000") +
	"d/f\x00" + "\x00\x00" + // 110+4 = 114, padded to 116
	"hi\x00\x00" + // data padded to 4
	hdr("00000000", "00000000", "00000000", "00000000", "00000001", "00000000",
		"00000000", "00000000", "00000000", "00000000", "00000000", "0000000B", "00000000") +
	"TRAILER!!!\x00" + "\x00\x00\x00" // at offset 232: 232+110+11 = 353, padded to 356

func TestCPIOWriterGolden(t *testing.T) {
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	require.NoError(t, w.Dir("d", 0o755))
	require.NoError(t, w.File("d/f", 0o644, []byte("hi")))
	require.NoError(t, w.Close())
	require.Equal(t, goldenArchive, buf.String())
	require.Zero(t, buf.Len()%4, "archive length is a multiple of 4")
}

func TestReadCPIOGolden(t *testing.T) {
	es, n, err := ReadCPIO([]byte(goldenArchive))
	require.NoError(t, err)
	require.Equal(t, len(goldenArchive), n)
	require.Equal(t, []Entry{
		{Name: "d", Mode: ModeDir | 0o755, NLink: 2, Data: []byte{}},
		{Name: "d/f", Mode: ModeRegular | 0o644, NLink: 1, Data: []byte("hi")},
	}, es)
}

func TestCPIOWriterParentsAndTypes(t *testing.T) {
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	require.NoError(t, w.File("/a/b/c.txt", 0o600, []byte("12345")))
	require.NoError(t, w.Dir("a/b", 0o700), "an existing directory is not written twice")
	require.NoError(t, w.CharDev("dev/console", 0o600, 5, 1))
	require.NoError(t, w.Symlink("bin/sh", "/init"))
	require.NoError(t, w.Close())

	es, _, err := ReadCPIO(buf.Bytes())
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name)
	}
	require.Equal(t, []string{"a", "a/b", "a/b/c.txt", "dev", "dev/console", "bin", "bin/sh"}, names)
	require.Equal(t, uint32(ModeDir|0o755), es[0].Mode)
	require.Equal(t, []byte("12345"), es[2].Data)
	require.Equal(t, uint32(ModeCharDev|0o600), es[4].Mode)
	require.Equal(t, [2]uint32{5, 1}, [2]uint32{es[4].RDevMajor, es[4].RDevMinor})
	require.Equal(t, uint32(ModeSymlink|0o777), es[6].Mode)
	require.Equal(t, "/init", string(es[6].Data))
}

func TestCPIOWriterRejects(t *testing.T) {
	w := NewCPIOWriter(&bytes.Buffer{})
	for _, name := range []string{"", "/", "a/../b", "../x", "a//b", "a/", ".", "TRAILER!!!", "a\x00b",
		strings.Repeat("x", MaxCPIOName)} {
		require.Error(t, w.File(name, 0o644, nil), "name %q", name)
	}
	require.ErrorContains(t, w.Add(Entry{Name: "x", Mode: 0o644}), "no file type")
	require.NoError(t, w.Close())
	require.ErrorIs(t, w.File("late", 0o644, nil), ErrCPIOClosed)
	require.ErrorIs(t, w.Close(), ErrCPIOClosed)
}

type failWriter struct{ left int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errors.New("disk full")
	}
	f.left--
	return len(p), nil
}

func TestCPIOWriterSticksToFirstError(t *testing.T) {
	w := NewCPIOWriter(&failWriter{left: 1})
	require.NoError(t, w.Dir("a", 0o755))
	require.ErrorContains(t, w.File("a/b", 0o644, []byte("x")), "disk full")
	require.ErrorContains(t, w.Close(), "disk full")
}

func TestReadCPIOErrors(t *testing.T) {
	good := []byte(goldenArchive)
	cases := map[string][]byte{
		"empty":          nil,
		"short header":   good[:50],
		"no trailer":     good[:112],
		"cut in data":    good[:112+116+1],
		"bad magic":      append([]byte("070702"), good[6:]...),
		"non-hex field":  append(append([]byte{}, good[:6]...), append([]byte("0000000G"), good[14:]...)...),
		"zero name size": []byte(hdr("00000001", "000041ED", "00000000", "00000000", "00000002", "00000000", "00000000", "00000000", "00000000", "00000000", "00000000", "00000000", "00000000")),
	}
	unterminated := []byte(goldenArchive)
	unterminated[111] = 'x'
	cases["name without NUL"] = unterminated
	huge := []byte(goldenArchive)
	copy(huge[6+6*8:], "7FFFFFFF") // filesize of "d"
	cases["data past end"] = huge
	for name, b := range cases {
		_, _, err := ReadCPIO(b)
		require.Error(t, err, name)
	}
	_, _, err := ReadCPIO(good[:50])
	require.ErrorIs(t, err, ErrCPIOTruncated)
}

// FuzzReadCPIO: the reader never panics, never reads past its input, and
// an archive it accepts is written back by CPIOWriter to one that parses
// to the same entries.
func FuzzReadCPIO(f *testing.F) {
	f.Add([]byte(goldenArchive))
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	_ = w.CharDev("dev/console", 0o600, 5, 1)
	_ = w.File("init", 0o755, []byte("\x7fELF"))
	_ = w.Symlink("sh", "init")
	_ = w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, n, err := ReadCPIO(b)
		if err != nil {
			return
		}
		require.LessOrEqual(t, n, len(b))
		var out bytes.Buffer
		w := NewCPIOWriter(&out)
		for _, e := range es {
			require.NoError(t, w.write(e))
		}
		require.NoError(t, w.Close())
		again, m, err := ReadCPIO(out.Bytes())
		require.NoError(t, err)
		require.Equal(t, out.Len(), m)
		require.Equal(t, len(es), len(again))
		for i := range es {
			require.Equal(t, es[i].Name, again[i].Name)
			require.Equal(t, es[i].Mode, again[i].Mode)
			require.Equal(t, es[i].RDevMajor, again[i].RDevMajor)
			require.Equal(t, string(es[i].Data), string(again[i].Data))
		}
	})
}
