package linuxref

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// The "newc" (SVR4, no CRC) cpio format, as the Linux kernel's initramfs
// unpacker reads it: each entry is a 110-byte ASCII header — the magic
// "070701" and thirteen 8-digit hexadecimal fields — followed by the
// NUL-terminated name, padded so the data starts at an offset (from the
// archive's start) that is a multiple of 4, then the data, padded likewise. The archive ends with
// an entry named "TRAILER!!!".
const (
	cpioMagic      = "070701"
	cpioHeaderLen  = 110
	cpioTrailer    = "TRAILER!!!"
	cpioFieldCount = 13
	// MaxCPIOName bounds entry names (PATH_MAX on Linux, with its NUL).
	MaxCPIOName = 4096
)

// File type bits of a cpio mode (as in stat(2)).
const (
	ModeDir     = 0o040000
	ModeRegular = 0o100000
	ModeSymlink = 0o120000
	ModeCharDev = 0o020000
	modeType    = 0o170000
)

// Entry is one member of a cpio archive.
type Entry struct {
	Name     string // path inside the archive, without a leading "/"
	Mode     uint32 // type bits | permission bits
	UID, GID uint32
	NLink    uint32
	MTime    uint32
	// RDevMajor and RDevMinor are the device numbers of a device node.
	RDevMajor, RDevMinor uint32
	Data                 []byte // file contents, or a symlink's target
}

// CPIOWriter writes a newc archive. Parent directories of every entry are
// emitted automatically (mode 0755) before the entry if they were not
// written yet, because the kernel does not create them.
type CPIOWriter struct {
	w      io.Writer
	ino    uint32
	dirs   map[string]bool
	closed bool
	err    error
}

// NewCPIOWriter returns a writer of a newc archive to w.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: w, dirs: map[string]bool{".": true, "": true}}
}

// ErrCPIOClosed is returned by writes after Close.
var ErrCPIOClosed = errors.New("cpio: archive already closed")

// cleanName validates name and returns it without a leading "/".
func cleanName(name string) (string, error) {
	n := strings.TrimPrefix(name, "/")
	if n == "" || path.Clean(n) != n || n == "." || n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("cpio: bad entry name %q", name)
	}
	if len(n)+1 > MaxCPIOName || strings.IndexByte(n, 0) >= 0 || n == cpioTrailer {
		return "", fmt.Errorf("cpio: bad entry name %q", name)
	}
	return n, nil
}

// Dir adds a directory.
func (c *CPIOWriter) Dir(name string, perm uint32) error {
	return c.Add(Entry{Name: name, Mode: ModeDir | perm&0o7777})
}

// File adds a regular file.
func (c *CPIOWriter) File(name string, perm uint32, data []byte) error {
	return c.Add(Entry{Name: name, Mode: ModeRegular | perm&0o7777, Data: data})
}

// CharDev adds a character device node.
func (c *CPIOWriter) CharDev(name string, perm, major, minor uint32) error {
	return c.Add(Entry{Name: name, Mode: ModeCharDev | perm&0o7777, RDevMajor: major, RDevMinor: minor})
}

// Symlink adds a symbolic link to target.
func (c *CPIOWriter) Symlink(name, target string) error {
	return c.Add(Entry{Name: name, Mode: ModeSymlink | 0o777, Data: []byte(target)})
}

// Add writes e (after any missing parent directories). NLink defaults to 2
// for directories and 1 otherwise; inode numbers are assigned in order from 1.
func (c *CPIOWriter) Add(e Entry) error {
	if c.closed {
		return ErrCPIOClosed
	}
	if c.err != nil {
		return c.err
	}
	n, err := cleanName(e.Name)
	if err != nil {
		return err
	}
	if e.Mode&modeType == 0 {
		return fmt.Errorf("cpio: entry %q has no file type in mode %o", n, e.Mode)
	}
	if err := c.parents(path.Dir(n)); err != nil {
		return err
	}
	if e.Mode&modeType == ModeDir {
		if c.dirs[n] {
			return nil // already there (perhaps as an implicit parent)
		}
		c.dirs[n] = true
	}
	e.Name = n
	return c.write(e)
}

// parents writes dir and its missing ancestors, outermost first.
func (c *CPIOWriter) parents(dir string) error {
	if c.dirs[dir] {
		return nil
	}
	if err := c.parents(path.Dir(dir)); err != nil {
		return err
	}
	c.dirs[dir] = true
	return c.write(Entry{Name: dir, Mode: ModeDir | 0o755})
}

func (c *CPIOWriter) write(e Entry) error {
	if e.NLink == 0 {
		e.NLink = 1
		if e.Mode&modeType == ModeDir {
			e.NLink = 2
		}
	}
	c.ino++
	ino := c.ino
	if e.Name == cpioTrailer && e.Mode == 0 {
		ino = 0
	}
	fields := [cpioFieldCount]uint32{ino, e.Mode, e.UID, e.GID, e.NLink, e.MTime,
		uint32(len(e.Data)), 0, 0, e.RDevMajor, e.RDevMinor, uint32(len(e.Name) + 1), 0}
	buf := make([]byte, 0, cpioHeaderLen+len(e.Name)+4)
	buf = append(buf, cpioMagic...)
	for _, f := range fields {
		buf = fmt.Appendf(buf, "%08X", f)
	}
	buf = append(buf, e.Name...)
	buf = append(buf, 0)
	buf = append(buf, make([]byte, pad4(len(buf)))...)
	if _, err := c.w.Write(buf); err != nil {
		c.err = err
		return err
	}
	if len(e.Data) > 0 {
		if _, err := c.w.Write(e.Data); err != nil {
			c.err = err
			return err
		}
		if p := pad4(len(e.Data)); p > 0 {
			if _, err := c.w.Write(make([]byte, p)); err != nil {
				c.err = err
				return err
			}
		}
	}
	return nil
}

// Close writes the trailer entry. It does not close the underlying writer.
func (c *CPIOWriter) Close() error {
	if c.closed {
		return ErrCPIOClosed
	}
	if c.err != nil {
		return c.err
	}
	c.closed = true
	return c.write(Entry{Name: cpioTrailer, NLink: 1})
}

// pad4 is how many bytes round n up to a multiple of 4.
func pad4(n int) int { return (4 - n%4) % 4 }
