// Package cpio reads and writes the headers of the cpio "newc" format
// (SVR4, magic 070701) and its checksummed variant "crc" (magic 070702),
// the format of Linux initramfs images and of armos's boot image.
//
// An archive is a sequence of entries. Each entry is a 110-byte ASCII
// header — the 6-byte magic, then thirteen fields of exactly eight
// hexadecimal digits — followed by the entry's name (NameSize bytes,
// including a terminating NUL), padding up to a multiple of 4 counted from
// the start of the archive, the entry's data (FileSize bytes) and padding
// up to a multiple of 4 again. An entry named "TRAILER!!!" ends the
// archive. In the "crc" variant, Check is the sum of a regular file's
// data bytes (modulo 2^32; GNU cpio writes 0 for other entries and checks
// only regular files); in "newc" it is zero. A symbolic link's data is its
// target. (Format facts: the cpio(5) manual page of libarchive / GNU cpio,
// and the Linux kernel's Documentation/driver-api/early-userspace/buffer-format.rst.)
//
// The header codec (ParseHeader, Header.Append) neither allocates nor
// panics, so the kernel can use it; Writer is for host tools.
package cpio

import (
	"errors"
	"fmt"
)

// Format constants.
const (
	Magic       = "070701"     // "newc"
	MagicCRC    = "070702"     // "crc": newc plus a data checksum
	HeaderSize  = 110          // magic + 13 * 8 hex digits
	Trailer     = "TRAILER!!!" // name of the entry that ends an archive
	MaxNameSize = 4096         // longest name accepted, with its NUL (PATH_MAX)
	fieldCount  = 13
)

// File type and permission bits of Header.Mode, as in stat(2) st_mode.
const (
	ModeType     = 0o170000 // mask of the type bits
	ModeSocket   = 0o140000
	ModeSymlink  = 0o120000
	ModeRegular  = 0o100000
	ModeBlockDev = 0o060000
	ModeDir      = 0o040000
	ModeCharDev  = 0o020000
	ModeFIFO     = 0o010000
	ModePerm     = 0o007777 // permission, set-id and sticky bits
)

// FieldNames names the thirteen header fields in order, as cpio(5) does.
var FieldNames = [fieldCount]string{"ino", "mode", "uid", "gid", "nlink", "mtime",
	"filesize", "devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check"}

// Header is one decoded entry header.
type Header struct {
	CRC                  bool // magic 070702: Check is the sum of the data bytes
	Ino                  uint32
	Mode                 uint32 // type | permission bits
	UID, GID             uint32
	NLink                uint32
	MTime                uint32 // seconds since the Unix epoch
	FileSize             uint32 // length of the data
	DevMajor, DevMinor   uint32 // device holding the file
	RDevMajor, RDevMinor uint32 // device numbers of a device node
	NameSize             uint32 // length of the name including its NUL
	Check                uint32
}

// Errors of ParseHeader.
var (
	ErrShortHeader = errors.New("cpio: header shorter than 110 bytes")
	ErrBadMagic    = errors.New("cpio: bad magic (want 070701 or 070702)")
	ErrBadField    = errors.New("cpio: header field is not 8 hexadecimal digits")
)

// ParseHeader decodes the header at the start of b. It accepts only the
// two newc magics and exactly eight hexadecimal digits (either case) per
// field. On a bad field it returns ErrBadField and the field's index
// (0..12, see FieldNames); otherwise the index is -1.
//
//go:nosplit
func ParseHeader(b []byte) (h Header, field int, err error) {
	if len(b) < HeaderSize {
		return h, -1, ErrShortHeader
	}
	switch string(b[:6]) {
	case Magic:
	case MagicCRC:
		h.CRC = true
	default:
		return h, -1, ErrBadMagic
	}
	var f [fieldCount]uint32
	for i := range f {
		v, ok := parseHex8(b[6+8*i : 14+8*i])
		if !ok {
			return Header{}, i, ErrBadField
		}
		f[i] = v
	}
	h.Ino, h.Mode, h.UID, h.GID, h.NLink, h.MTime = f[0], f[1], f[2], f[3], f[4], f[5]
	h.FileSize, h.DevMajor, h.DevMinor, h.RDevMajor, h.RDevMinor = f[6], f[7], f[8], f[9], f[10]
	h.NameSize, h.Check = f[11], f[12]
	return h, -1, nil
}

// parseHex8 decodes exactly eight hexadecimal digits.
//
//go:nosplit
func parseHex8(s []byte) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	var v uint32
	for _, c := range s {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

// Append appends the 110-byte encoding of h (upper-case hexadecimal, as
// GNU cpio and the Linux kernel's gen_init_cpio write it) to dst.
func (h *Header) Append(dst []byte) []byte {
	if h.CRC {
		dst = append(dst, MagicCRC...)
	} else {
		dst = append(dst, Magic...)
	}
	for _, v := range [fieldCount]uint32{h.Ino, h.Mode, h.UID, h.GID, h.NLink, h.MTime,
		h.FileSize, h.DevMajor, h.DevMinor, h.RDevMajor, h.RDevMinor, h.NameSize, h.Check} {
		for shift := 28; shift >= 0; shift -= 4 {
			dst = append(dst, "0123456789ABCDEF"[v>>uint(shift)&0xf])
		}
	}
	return dst
}

// DataOffset is where the data of the entry whose header starts at off
// begins: after the header and the name, rounded up to a multiple of 4.
//
//go:nosplit
func (h *Header) DataOffset(off uint64) uint64 {
	return Align4(off + HeaderSize + uint64(h.NameSize))
}

// NextOffset is where the entry after the one whose header starts at off
// begins.
//
//go:nosplit
func (h *Header) NextOffset(off uint64) uint64 {
	return Align4(h.DataOffset(off) + uint64(h.FileSize))
}

// Align4 rounds n up to a multiple of 4.
//
//go:nosplit
func Align4(n uint64) uint64 { return (n + 3) &^ 3 }

// Sum is the "crc" format's checksum of data: the sum of its bytes
// modulo 2^32. It can be computed piecewise: Sum(a+b) == Sum(a)+Sum(b).
//
//go:nosplit
func Sum(data []byte) uint32 {
	var s uint32
	for _, c := range data {
		s += uint32(c)
	}
	return s
}

// TypeName names the file type in mode for messages ("regular file",
// "directory", ...).
func TypeName(mode uint32) string {
	switch mode & ModeType {
	case ModeRegular:
		return "regular file"
	case ModeDir:
		return "directory"
	case ModeSymlink:
		return "symlink"
	case ModeCharDev:
		return "character device"
	case ModeBlockDev:
		return "block device"
	case ModeFIFO:
		return "fifo"
	case ModeSocket:
		return "socket"
	case 0:
		return "no file type"
	}
	return fmt.Sprintf("unknown file type %#o", mode&ModeType)
}
