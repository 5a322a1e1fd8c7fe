package bootimg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"armos/microkernel/internal/cpio"
	"github.com/stretchr/testify/require"
)

func sample(t testing.TB) []byte {
	return archive(t, false,
		dir("bin", 0o755),
		file("bin/hello", 0o755, "\x7fELF hello"),
		cpio.Entry{Name: "bin/sh", Mode: cpio.ModeSymlink | 0o777, Data: []byte("hello")},
		file("./etc/motd", 0o644, "welcome\n"), // implies /etc
		cpio.Entry{Name: "/dev/console", Mode: cpio.ModeCharDev | 0o600, RDevMajor: 5, RDevMinor: 1},
		file("usr/lib/x/y", 0o600, ""), // implies /usr, /usr/lib, /usr/lib/x
		cpio.Entry{Name: "usr", Mode: cpio.ModeDir | 0o700, MTime: 1234, UID: 7, GID: 8},
		file("a-b", 0o644, "dash"),
		file("a/c", 0o644, "slash"),
	)
}

func TestParseSample(t *testing.T) {
	img := sample(t)
	ix, reads, err := parseBytes(t, img)
	require.NoError(t, err)
	require.Equal(t, uint64(len(img)), ix.Size())
	require.Equal(t, uint64(len(img)), ix.End(), "cpio.Writer adds nothing after the trailer")

	var paths []string
	for i, e := range ix.Entries() {
		paths = append(paths, e.Path)
		require.Equal(t, uint64(i+1), e.Ino)
	}
	require.Equal(t, []string{"/", "/a", "/a-b", "/a/c", "/bin", "/bin/hello", "/bin/sh", "/dev", "/dev/console",
		"/etc", "/etc/motd", "/usr", "/usr/lib", "/usr/lib/x", "/usr/lib/x/y"}, paths)
	require.Equal(t, 15, ix.Len())
	require.Less(t, reads, 5, "the window serves small entries without a read each")

	hello, ok := ix.Lookup("/bin/hello")
	require.True(t, ok)
	require.True(t, hello.IsRegular())
	require.Equal(t, uint32(0o755), hello.Perm())
	require.Equal(t, "hello", hello.Name())
	require.Equal(t, "\x7fELF hello", string(img[hello.DataOff:hello.DataOff+hello.Size]))
	require.False(t, hello.Implied)
	require.Equal(t, "/bin", ix.Parent(hello).Path)

	sh, err := ix.Stat("bin/sh")
	require.NoError(t, err)
	require.True(t, sh.IsSymlink())
	require.Equal(t, "hello", string(img[sh.DataOff:sh.DataOff+sh.Size]))

	con, err := ix.Stat("/dev/console")
	require.NoError(t, err)
	require.Equal(t, uint32(cpio.ModeCharDev), con.Type())
	require.Equal(t, [2]uint32{5, 1}, [2]uint32{con.RDevMajor, con.RDevMinor})
	require.Zero(t, con.Size)

	etc, _ := ix.Lookup("/etc")
	require.True(t, etc.IsDir())
	require.True(t, etc.Implied)
	require.Equal(t, uint32(cpio.ModeDir|0o755), etc.Mode)

	usr, _ := ix.Lookup("/usr")
	require.False(t, usr.Implied, "the later explicit entry supplies the attributes")
	require.Equal(t, uint32(cpio.ModeDir|0o700), usr.Mode)
	require.Equal(t, [3]uint32{1234, 7, 8}, [3]uint32{usr.MTime, usr.UID, usr.GID})

	empty, _ := ix.Lookup("/usr/lib/x/y")
	require.Zero(t, empty.Size)
	require.Zero(t, empty.DataOff)

	root := ix.Root()
	require.Equal(t, "/", root.Path)
	require.Equal(t, "/", root.Name())
	require.True(t, root.IsDir())
	require.Same(t, root, ix.Parent(root))
}

func TestLookupCleansPaths(t *testing.T) {
	ix, _, err := parseBytes(t, sample(t))
	require.NoError(t, err)
	for _, p := range []string{"/bin/hello", "bin/hello", "//bin//hello", "/bin/./hello", "/usr/../bin/hello", "/../bin/hello"} {
		e, ok := ix.Lookup(p)
		require.True(t, ok, p)
		require.Equal(t, "/bin/hello", e.Path, p)
	}
	for _, p := range []string{"", "/bin/hello/", "/nope", "/bin/hell", "/bin/hello2"} {
		if p == "/bin/hello/" {
			continue // path.Clean drops the slash; a file lookup with a trailing slash is the caller's ENOTDIR
		}
		_, ok := ix.Lookup(p)
		require.False(t, ok, p)
	}
	e, ok := ix.Lookup("/")
	require.True(t, ok)
	require.Same(t, ix.Root(), e)

	_, err = ix.Stat("/nope")
	require.ErrorIs(t, err, fs.ErrNotExist)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "/nope", pe.Path)
}

func TestReadDir(t *testing.T) {
	ix, _, err := parseBytes(t, sample(t))
	require.NoError(t, err)
	names := func(p string) []string {
		es, err := ix.ReadDir(p)
		require.NoError(t, err, p)
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
			require.Equal(t, p, ix.Parent(e).Path)
		}
		return out
	}
	// "a-b" sorts between "a" and "a/c" by path, but is a child of "/".
	require.Equal(t, []string{"a", "a-b", "bin", "dev", "etc", "usr"}, names("/"))
	require.Equal(t, []string{"c"}, names("/a"))
	require.Equal(t, []string{"hello", "sh"}, names("/bin"))
	require.Equal(t, []string{"y"}, names("/usr/lib/x"))

	_, err = ix.ReadDir("/bin/hello")
	require.ErrorIs(t, err, ErrNotDir)
	_, err = ix.ReadDir("/nope")
	require.ErrorIs(t, err, fs.ErrNotExist)

	// Every node but the root is in exactly one directory listing.
	seen := map[string]int{}
	for _, e := range ix.Entries() {
		if e.IsDir() {
			kids, err := ix.ReadDir(e.Path)
			require.NoError(t, err)
			for _, k := range kids {
				seen[k.Path]++
			}
		}
	}
	require.Len(t, seen, ix.Len()-1)
	for p, n := range seen {
		require.Equal(t, 1, n, p)
	}
}

func TestRootEntryAndCRC(t *testing.T) {
	img := archive(t, true,
		cpio.Entry{Name: ".", Mode: cpio.ModeDir | 0o711, MTime: 99},
		file("init", 0o755, strings.Repeat("z", 5000)), // longer than the read window
	)
	ix, _, err := parseBytes(t, img)
	require.NoError(t, err)
	require.Equal(t, uint32(cpio.ModeDir|0o711), ix.Root().Mode)
	require.Equal(t, uint32(99), ix.Root().MTime)
	require.False(t, ix.Root().Implied)
	e, ok := ix.Lookup("/init")
	require.True(t, ok)
	require.Equal(t, uint64(5000), e.Size)

	// Flip one data byte: the checksum no longer matches.
	bad := append([]byte{}, img...)
	bad[e.DataOff+4321] ^= 1
	_, _, err = parseBytes(t, bad)
	require.ErrorIs(t, err, ErrChecksum)
	require.ErrorContains(t, err, `"init"`)
}

func TestLongNames(t *testing.T) {
	long := strings.Repeat("d/", 1000) + strings.Repeat("n", MaxNameSize-1-2000)
	img := archive(t, false, file(long, 0o644, "x"))
	ix, _, err := parseBytes(t, img)
	require.NoError(t, err)
	e, ok := ix.Lookup(long)
	require.True(t, ok)
	require.Equal(t, "x", string(img[e.DataOff:e.DataOff+1]))
	require.Equal(t, 1002, ix.Len(), "root, 1000 implied directories and the file")
}

func TestGNUCpioArchives(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("GNU cpio not installed (apt-get install cpio)")
	}
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "bin", "prog"), []byte("program bytes"), 0o755))
	require.NoError(t, os.Symlink("prog", filepath.Join(src, "bin", "alias")))
	for _, format := range []string{"newc", "crc"} {
		for _, list := range []string{".\nbin\nbin/prog\nbin/alias\n", "./bin\n./bin/prog\n./bin/alias\n"} {
			cmd := exec.Command("cpio", "-o", "--quiet", "-H", format)
			cmd.Dir = src
			cmd.Stdin = strings.NewReader(list)
			img, err := cmd.Output()
			require.NoError(t, err)
			require.Zero(t, len(img)%512, "GNU cpio pads to 512-byte blocks")
			ix, _, err := parseBytes(t, img)
			require.NoError(t, err, "%s %q", format, list)
			prog, ok := ix.Lookup("/bin/prog")
			require.True(t, ok)
			require.Equal(t, "program bytes", string(img[prog.DataOff:prog.DataOff+prog.Size]))
			require.Equal(t, uint32(0o755), prog.Perm())
			alias, ok := ix.Lookup("/bin/alias")
			require.True(t, ok)
			require.True(t, alias.IsSymlink())
			require.Equal(t, "prog", string(img[alias.DataOff:alias.DataOff+alias.Size]))
			require.LessOrEqual(t, ix.End(), ix.Size())
		}
	}
}

// hdr is a header for a well-formed regular file entry; tests spoil it.
func hdr(name, data string) cpio.Header {
	return cpio.Header{Mode: cpio.ModeRegular | 0o644, NLink: 1, FileSize: uint32(len(data)), NameSize: uint32(len(name) + 1)}
}

func TestParseRejects(t *testing.T) {
	good := new(raw).file("a", "data").trailer().b
	withField := func(i int, v string) []byte {
		b := append([]byte{}, good...)
		copy(b[6+8*i:], v)
		return b
	}
	withHeader := func(h cpio.Header, name, data string) []byte {
		return new(raw).entry(h, name, []byte(data)).trailer().b
	}
	type tc struct {
		img     []byte
		want    error
		entry   int
		message string
	}
	cases := map[string]tc{
		"empty":            {nil, ErrNoTrailer, 0, "no TRAILER"},
		"truncated header": {good[:50], ErrTruncated, 0, "header needs 110 bytes, 50 left"},
		"truncated name":   {good[:111], ErrTruncated, 0, "2-byte name"},
		"truncated data":   {good[:114], ErrTruncated, 0, "4 bytes of data at offset 0x70"},
		"missing trailer":  {new(raw).file("a", "data").b, ErrNoTrailer, 1, ""},
		"trailer cut":      {good[:len(good)-10], ErrTruncated, 1, ""},
		"bad magic":        {append([]byte("070707"), good[6:]...), ErrBadMagic, 0, `"070707"`},
		"bad hex":          {withField(1, "0000G1A4"), cpio.ErrBadField, 0, `field mode is "0000G1A4"`},
		"hex with space":   {withField(6, " 0000004"), ErrBadHeader, 0, "field filesize"},
		"huge file size":   {withField(6, "FFFFFFFF"), ErrTruncated, 0, "4294967295 bytes of data"},
		"huge name size":   {withField(11, "00010000"), ErrBadName, 0, "name size 65536"},
		"name size 0":      {withField(11, "00000000"), ErrBadName, 0, "name size 0"},
		"name size 1":      {withField(11, "00000001"), ErrBadName, 0, "name size 1"},
		"name without NUL": {withHeader(hdr("ab", ""), "abc", ""), ErrBadName, 0, "not NUL-terminated"},
		"NUL inside name":  {withHeader(hdr("abc", ""), "a\x00c\x00", ""), ErrBadName, 0, "NUL inside"},
		"name too long": {withHeader(cpio.Header{Mode: cpio.ModeRegular, NameSize: MaxNameSize + 1},
			strings.Repeat("x", MaxNameSize)+"\x00", ""), ErrBadName, 0, "name size 4097"},
		"duplicate": {archive(t, false, file("x", 0o644, "1"), file("x", 0o644, "2")),
			ErrDuplicate, 1, "/x already defined by entry 0"},
		"duplicate dir":  {archive(t, false, dir("d", 0o755), dir("/d", 0o755)), ErrDuplicate, 1, ""},
		"duplicate root": {archive(t, false, dir(".", 0o755), dir("/", 0o755)), ErrDuplicate, 1, ""},
		"file as parent": {archive(t, false, file("x", 0o644, ""), file("x/y", 0o644, "")),
			ErrNotDir, 1, "parent /x of /x/y is a regular file"},
		"parent then file": {archive(t, false, file("x/y", 0o644, ""), file("x", 0o644, "")),
			ErrNotDir, 1, "a directory above"},
		"root as file":     {archive(t, false, file(".", 0o644, "")), ErrNotDir, 0, ""},
		"dir with data":    {archive(t, false, cpio.Entry{Name: "d", Mode: cpio.ModeDir | 0o755, Data: []byte("x")}), ErrBadMode, 0, "a directory with 1 bytes"},
		"device with data": {archive(t, false, cpio.Entry{Name: "c", Mode: cpio.ModeCharDev, Data: []byte("x")}), ErrBadMode, 0, ""},
		"no file type":     {withHeader(cpio.Header{Mode: 0o644, NameSize: 2}, "x\x00", ""), ErrBadMode, 0, "no file type"},
		"unknown type":     {withHeader(cpio.Header{Mode: 0o070644, NameSize: 2}, "x\x00", ""), ErrBadMode, 0, "unknown file type"},
		"high mode bits":   {withHeader(cpio.Header{Mode: 0o300644, NameSize: 2}, "x\x00", ""), ErrBadMode, 0, "bits above the file type"},
		"empty symlink":    {withHeader(cpio.Header{Mode: cpio.ModeSymlink | 0o777, NameSize: 2}, "l\x00", ""), ErrBadMode, 0, "symlink target of 0 bytes"},
		"long symlink": {archive(t, false, cpio.Entry{Name: "l", Mode: cpio.ModeSymlink | 0o777,
			Data: []byte(strings.Repeat("t", MaxSymlinkSize+1))}), ErrBadMode, 0, ""},
		"trailer with data": {new(raw).entry(cpio.Header{NameSize: 11, FileSize: 4}, cpio.Trailer+"\x00", []byte("junk")).b,
			ErrBadHeader, 0, "trailer carries 4 bytes"},
		"crc mismatch": {withHeader(cpio.Header{CRC: true, Mode: cpio.ModeRegular | 0o644, FileSize: 2, NameSize: 2, Check: 1},
			"f\x00", "ab"), ErrChecksum, 0, "data sums to 0x000000c3, header says 0x00000001"},
	}
	for _, bad := range []string{"", "a//b", "../x", "..", "a/../b", "a/", "./", "//x", "/./x", "./../x", "a/.", "././x"} {
		cases["name "+bad] = tc{withHeader(hdr(bad, ""), bad+"\x00", ""), ErrBadName, 0, ""}
	}
	for name, c := range cases {
		_, _, err := parseBytes(t, c.img)
		require.Error(t, err, name)
		require.ErrorIs(t, err, c.want, "%s: %v", name, err)
		var pe *Error
		require.ErrorAs(t, err, &pe, name)
		require.Equal(t, c.entry, pe.Entry, "%s: %v", name, err)
		require.Contains(t, err.Error(), c.message, name)
		require.True(t, strings.HasPrefix(err.Error(), "bootimg: "), name)
	}
}

func TestErrorMessagesNameTheEntry(t *testing.T) {
	img := archive(t, false, file("bin/ok", 0o755, "1"), file("bin/ok", 0o755, "2"))
	_, _, err := parseBytes(t, img)
	require.EqualError(t, err, `bootimg: entry 1 "bin/ok" (header at offset 0x7c): duplicate path: /bin/ok already defined by entry 0`)

	// Before the name is known, the offset alone identifies the entry.
	_, _, err = parseBytes(t, append([]byte("0707XX"), img[6:]...))
	require.EqualError(t, err, `bootimg: entry 0 (header at offset 0x0): bad header: cpio: bad magic (want 070701 or 070702): "0707XX"`)
}

func TestLimits(t *testing.T) {
	called := false
	_, err := Parse(MaxImageSize+1, func(uint64, []byte) error { called = true; return nil })
	require.ErrorIs(t, err, ErrTooLarge)
	require.False(t, called, "the image is refused before any read")
	var pe *Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, -1, pe.Entry)

	_, err = Parse(10, nil)
	require.ErrorIs(t, err, ErrRead)

	many := func(n int) []byte {
		es := make([]cpio.Entry, n)
		for i := range es {
			es[i] = file(fmt.Sprintf("f%04d", i), 0o644, "")
		}
		return archive(t, false, es...)
	}
	ix, _, err := parseBytes(t, many(MaxEntries-1))
	require.NoError(t, err)
	require.Equal(t, MaxEntries, ix.Len(), "the root counts")
	_, _, err = parseBytes(t, many(MaxEntries))
	require.ErrorIs(t, err, ErrTooMany)

	// Implied directories count too.
	deep := strings.Repeat("d/", MaxEntries) + "f"
	_, _, err = parseBytes(t, archive(t, false, file(deep[:MaxNameSize-1], 0o644, "")))
	require.NoError(t, err, "2047 directories fit")
	es := []cpio.Entry{file(deep[:MaxNameSize-1], 0o644, ""), file(strings.Repeat("e/", 2047)+"f", 0o644, "")}
	_, _, err = parseBytes(t, archive(t, false, es...))
	require.ErrorIs(t, err, ErrTooMany)
}

func TestReadErrorsPropagate(t *testing.T) {
	img := archive(t, false, file("big", 0o644, strings.Repeat("b", 3*window)), file("next", 0o644, ""))
	boom := errors.New("dma error")
	reads := 0
	_, err := Parse(uint64(len(img)), func(off uint64, dst []byte) error {
		if reads++; reads > 1 {
			return boom
		}
		return SliceReader(img)(off, dst)
	})
	require.ErrorIs(t, err, ErrRead)
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "dma error")
}

func TestSliceReader(t *testing.T) {
	r := SliceReader([]byte("abcdef"))
	dst := make([]byte, 3)
	require.NoError(t, r(3, dst))
	require.Equal(t, "def", string(dst))
	require.Error(t, r(4, dst))
	require.Error(t, r(1<<63, dst))
	require.NoError(t, r(6, nil))
}
