package cpio

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Entry is one archive member for Writer.
type Entry struct {
	Name                 string // path inside the archive, written as given
	Mode                 uint32 // type | permission bits; the type must be set
	UID, GID             uint32
	NLink                uint32 // 0: 2 for a directory, 1 otherwise
	MTime                uint32
	RDevMajor, RDevMinor uint32 // device numbers of a device node
	Data                 []byte // contents, or a symlink's target
}

// Writer writes a newc (or, with CRC set, "crc") archive entry by entry,
// exactly in the order given: it neither sorts nor adds parent
// directories (that is the caller's policy). Inode numbers are assigned
// in order from 1; the trailer has inode 0. All header fields not in
// Entry are zero.
type Writer struct {
	// CRC selects the 070702 format with data checksums; set it before
	// the first Write.
	CRC bool

	w      io.Writer
	off    uint64
	ino    uint32
	err    error
	closed bool
	buf    []byte
}

// NewWriter returns a Writer of a newc archive to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// ErrClosed is returned by Write and Close after Close.
var ErrClosed = errors.New("cpio: archive already closed")

// CheckName reports why name cannot be an entry name, or nil: it must be
// non-empty, without NUL bytes, at most MaxNameSize-1 bytes long and not
// the trailer's name.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("cpio: empty entry name")
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("cpio: entry name %q contains a NUL byte", name)
	case len(name)+1 > MaxNameSize:
		return fmt.Errorf("cpio: entry name of %d bytes is longer than %d", len(name), MaxNameSize-1)
	case name == Trailer:
		return fmt.Errorf("cpio: entry name %q is reserved for the trailer", name)
	}
	return nil
}

// Write appends e. It refuses bad names (CheckName), a mode without a
// file type and data longer than 4 GiB-1.
func (w *Writer) Write(e Entry) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if err := CheckName(e.Name); err != nil {
		return err
	}
	if e.Mode&ModeType == 0 {
		return fmt.Errorf("cpio: entry %q has no file type in mode %#o", e.Name, e.Mode)
	}
	if uint64(len(e.Data)) > 1<<32-1 {
		return fmt.Errorf("cpio: entry %q: %d bytes of data do not fit the 32-bit size field", e.Name, len(e.Data))
	}
	if e.NLink == 0 {
		e.NLink = 1
		if e.Mode&ModeType == ModeDir {
			e.NLink = 2
		}
	}
	w.ino++
	return w.write(w.ino, e)
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	w.closed = true
	return w.write(0, Entry{Name: Trailer, NLink: 1})
}

// Offset is the number of bytes written so far.
func (w *Writer) Offset() uint64 { return w.off }

// write emits one entry with its padding.
func (w *Writer) write(ino uint32, e Entry) error {
	h := Header{CRC: w.CRC, Ino: ino, Mode: e.Mode, UID: e.UID, GID: e.GID, NLink: e.NLink,
		MTime: e.MTime, FileSize: uint32(len(e.Data)), RDevMajor: e.RDevMajor,
		RDevMinor: e.RDevMinor, NameSize: uint32(len(e.Name) + 1)}
	if w.CRC && e.Mode&ModeType == ModeRegular {
		h.Check = Sum(e.Data)
	}
	b := h.Append(w.buf[:0])
	b = append(b, e.Name...)
	b = append(b, 0)
	dataOff := h.DataOffset(w.off)
	for uint64(len(b)) < dataOff-w.off {
		b = append(b, 0)
	}
	w.buf = b
	if err := w.emit(b); err != nil {
		return err
	}
	if err := w.emit(e.Data); err != nil {
		return err
	}
	var zeros [3]byte
	return w.emit(zeros[:Align4(w.off)-w.off])
}

// emit writes b, remembering the first error.
func (w *Writer) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := w.w.Write(b)
	w.off += uint64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return err
}
