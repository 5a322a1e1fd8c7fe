package cpio

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// header spells one header out by hand from the format's definition.
func header(magic string, fields ...string) string {
	if len(fields) != fieldCount {
		panic("header: need 13 fields")
	}
	return magic + strings.Join(fields, "")
}

// golden is a directory "etc" and a file "etc/motd" holding "hello\n",
// written field by field. Offsets: "etc" header at 0, name ends at
// 110+4 = 114 -> data (none) at 116; "etc/motd" header at 116, name ends at
// 116+110+9 = 235 -> data at 236, 6 bytes to 242 -> 244; trailer at 244,
// name ends at 244+110+11 = 365 -> 368.
var golden = header(Magic, "00000001", "000041ED", "00000000", "00000000", "00000002", "00000000",
	"00000000", "00000000", "00000000", "00000000", "00000000", "00000004", "00000000") +
	"etc\x00" + "\x00\x00" +
	header(Magic, "00000002", "000081A4", "00000000", "00000000", "00000001", "00000000",
		"00000006", "00000000", "00000000", "00000000", "00000000", "00000009", "00000000") +
	"etc/motd\x00" + "\x00" +
	"hello\n" + "\x00\x00" +
	header(Magic, "00000000", "00000000", "00000000", "00000000", "00000001", "00000000",
		"00000000", "00000000", "00000000", "00000000", "00000000", "0000000B", "00000000") +
	"TRAILER!!!\x00" + "\x00\x00\x00"

func TestWriterGolden(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	require.NoError(t, w.Write(Entry{Name: "etc", Mode: ModeDir | 0o755}))
	require.NoError(t, w.Write(Entry{Name: "etc/motd", Mode: ModeRegular | 0o644, Data: []byte("hello\n")}))
	require.NoError(t, w.Close())
	require.Equal(t, golden, buf.String())
	require.Equal(t, uint64(len(golden)), w.Offset())
}

func TestParseHeaderGolden(t *testing.T) {
	h, field, err := ParseHeader([]byte(golden[116:]))
	require.NoError(t, err)
	require.Equal(t, -1, field)
	require.Equal(t, Header{Ino: 2, Mode: ModeRegular | 0o644, NLink: 1, FileSize: 6, NameSize: 9}, h)
	require.Equal(t, uint64(236), h.DataOffset(116))
	require.Equal(t, uint64(244), h.NextOffset(116))

	again := h.Append(nil)
	require.Equal(t, golden[116:116+HeaderSize], string(again))
}

func TestParseHeaderErrors(t *testing.T) {
	good := []byte(golden[:HeaderSize])
	_, _, err := ParseHeader(good[:HeaderSize-1])
	require.ErrorIs(t, err, ErrShortHeader)

	for _, magic := range []string{"070707", "070700", "07070l", "\x00\x00\x00\x00\x00\x00"} {
		b := append([]byte(magic), good[6:]...)
		_, _, err := ParseHeader(b)
		require.ErrorIs(t, err, ErrBadMagic, "magic %q", magic)
	}
	// Every field, every kind of almost-hex.
	for i := 0; i < fieldCount; i++ {
		for _, bad := range []string{"0000000G", "+0000001", " 0000001", "0x000001", "0000000\x00", "-0000001", "0000_001"} {
			b := append([]byte{}, good...)
			copy(b[6+8*i:], bad)
			_, field, err := ParseHeader(b)
			require.ErrorIs(t, err, ErrBadField, "field %s = %q", FieldNames[i], bad)
			require.Equal(t, i, field)
		}
	}
	// Lower-case hex is fine.
	b := append([]byte{}, good...)
	copy(b[6+8:], "000041ed")
	h, _, err := ParseHeader(b)
	require.NoError(t, err)
	require.Equal(t, uint32(0o40755), h.Mode)
}

func TestHeaderRoundTripCRC(t *testing.T) {
	h := Header{CRC: true, Ino: 0xdeadbeef, Mode: 0xffffffff, UID: 1, GID: 2, NLink: 3, MTime: 4,
		FileSize: 5, DevMajor: 6, DevMinor: 7, RDevMajor: 8, RDevMinor: 9, NameSize: 10, Check: 11}
	b := h.Append(nil)
	require.Len(t, b, HeaderSize)
	require.Equal(t, MagicCRC, string(b[:6]))
	got, _, err := ParseHeader(b)
	require.NoError(t, err)
	require.Equal(t, h, got)
}

func TestSumAndAlign(t *testing.T) {
	require.Equal(t, uint32(0), Sum(nil))
	require.Equal(t, uint32('h'+'i'), Sum([]byte("hi")))
	big := bytes.Repeat([]byte{0xff}, 1<<16)
	require.Equal(t, uint32(0xff<<16), Sum(big))
	require.Equal(t, Sum(big[:100])+Sum(big[100:]), Sum(big))
	for n, want := range map[uint64]uint64{0: 0, 1: 4, 3: 4, 4: 4, 5: 8, 1<<64 - 4: 1<<64 - 4} {
		require.Equal(t, want, Align4(n))
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	for _, name := range []string{"", "a\x00b", Trailer, strings.Repeat("x", MaxNameSize)} {
		require.Error(t, w.Write(Entry{Name: name, Mode: ModeRegular}), "name %q", name)
	}
	require.NoError(t, w.Write(Entry{Name: strings.Repeat("x", MaxNameSize-1), Mode: ModeRegular}))
	require.ErrorContains(t, w.Write(Entry{Name: "x", Mode: 0o644}), "no file type")
	require.NoError(t, w.Close())
	require.ErrorIs(t, w.Write(Entry{Name: "late", Mode: ModeRegular}), ErrClosed)
	require.ErrorIs(t, w.Close(), ErrClosed)
}

type failAfter struct{ left int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errors.New("disk full")
	}
	f.left--
	return len(p), nil
}

func TestWriterKeepsFirstError(t *testing.T) {
	w := NewWriter(&failAfter{left: 1})
	require.NoError(t, w.Write(Entry{Name: "d", Mode: ModeDir | 0o755}))
	require.ErrorContains(t, w.Write(Entry{Name: "f", Mode: ModeRegular, Data: []byte("x")}), "disk full")
	require.ErrorContains(t, w.Close(), "disk full")
}

func TestTypeName(t *testing.T) {
	require.Equal(t, "regular file", TypeName(ModeRegular|0o644))
	require.Equal(t, "directory", TypeName(ModeDir))
	require.Equal(t, "no file type", TypeName(0o644))
	require.Contains(t, TypeName(0o070000), "unknown")
}

// TestGNUCpioReadsWriterOutput: GNU cpio lists and extracts what Writer
// writes, in both magics (skipped when cpio is not installed).
func TestGNUCpioReadsWriterOutput(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("GNU cpio not installed (apt-get install cpio)")
	}
	for _, crc := range []bool{false, true} {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		w.CRC = crc
		require.NoError(t, w.Write(Entry{Name: "bin", Mode: ModeDir | 0o755}))
		require.NoError(t, w.Write(Entry{Name: "bin/tool", Mode: ModeRegular | 0o755, Data: []byte("#!\x00\xff binary")}))
		require.NoError(t, w.Write(Entry{Name: "bin/link", Mode: ModeSymlink | 0o777, Data: []byte("tool")}))
		require.NoError(t, w.Close())

		dir := t.TempDir()
		img := filepath.Join(dir, "a.cpio")
		require.NoError(t, os.WriteFile(img, buf.Bytes(), 0o644))
		list := exec.Command("cpio", "-t", "--quiet", "-F", img)
		out, err := list.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "bin\nbin/tool\nbin/link\n", string(out))

		ex := exec.Command("cpio", "-i", "-d", "--quiet", "-F", img)
		ex.Dir = dir
		out, err = ex.CombinedOutput()
		require.NoError(t, err, "%s", out)
		data, err := os.ReadFile(filepath.Join(dir, "bin", "tool"))
		require.NoError(t, err)
		require.Equal(t, "#!\x00\xff binary", string(data))
		target, err := os.Readlink(filepath.Join(dir, "bin", "link"))
		require.NoError(t, err)
		require.Equal(t, "tool", target)
	}
}
