package bootimg

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"armos/microkernel/internal/cpio"
)

// Limits.
const (
	// MaxEntries bounds the nodes of an Index: archive entries, implied
	// directories and the root together. It bounds Parse's memory (a few
	// hundred KiB at most) whatever the image says.
	MaxEntries = 4096
	// MaxImageSize bounds the image. fw_cfg itself allows up to
	// 4 GiB - 2 bytes (QEMU 7.2 aborts on larger files), and QEMU keeps
	// the whole file in host memory; 1 GiB is far more than a set of
	// programs needs.
	MaxImageSize = 1 << 30
	// MaxNameSize is the longest entry name, with its NUL (PATH_MAX).
	MaxNameSize = cpio.MaxNameSize
	// MaxSymlinkSize is the longest symlink target (PATH_MAX - 1).
	MaxSymlinkSize = 4095
)

// window is how much Parse reads at once around a header: one read
// usually brings in a header, its name and the next few headers of small
// entries.
const window = 1024

// ReadFunc reads len(dst) bytes at offset off of the image into dst. Parse
// never asks for bytes outside [0, size), and never for more than
// MaxNameSize (4096) bytes at once, so a one-page bounce buffer serves
// each read in one go (fwcfg.Device.CopyAt).
type ReadFunc func(off uint64, dst []byte) error

// Errors wrapped by *Error (test with errors.Is).
var (
	ErrTooLarge  = errors.New("image larger than MaxImageSize")
	ErrTruncated = errors.New("truncated")
	ErrBadHeader = errors.New("bad header")
	ErrBadMagic  = cpio.ErrBadMagic // also wrapped with ErrBadHeader
	ErrBadName   = errors.New("bad name")
	ErrBadMode   = errors.New("bad mode")
	ErrChecksum  = errors.New("checksum mismatch")
	ErrDuplicate = errors.New("duplicate path")
	ErrNotDir    = errors.New("not a directory")
	ErrTooMany   = errors.New("too many entries")
	ErrNoTrailer = errors.New("no TRAILER!!! entry before the end of the image")
	ErrRead      = errors.New("read failed")
)

// Error is a Parse failure.
type Error struct {
	Entry  int    // archive entry number, from 0; -1 when about the whole image
	Offset uint64 // offset of that entry's header
	Name   string // the entry's name as stored, once it has been read
	Err    error  // wraps one of the Err* values
}

func (e *Error) Error() string {
	switch {
	case e.Entry < 0:
		return "bootimg: " + e.Err.Error()
	case e.Name == "":
		return fmt.Sprintf("bootimg: entry %d (header at offset %#x): %v", e.Entry, e.Offset, e.Err)
	}
	return fmt.Sprintf("bootimg: entry %d %q (header at offset %#x): %v", e.Entry, e.Name, e.Offset, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Entry describes one file or directory of the image: what stat(2) would
// report, plus where its data is.
type Entry struct {
	Path    string // cleaned absolute path; "/" for the root
	Mode    uint32 // file type and permission bits (cpio.Mode*, as st_mode)
	Size    uint64 // data length; a symlink's target length
	DataOff uint64 // offset of the data in the image
	MTime   uint32 // modification time, seconds since the Unix epoch
	Ino     uint64 // 1-based position in path order: unique within the image
	UID     uint32
	GID     uint32
	NLink   uint32
	// RDevMajor and RDevMinor are a device node's numbers.
	RDevMajor, RDevMinor uint32
	// Implied is set for a directory that has no entry of its own (a
	// parent named only by the paths below it, or the root).
	Implied bool

	src    int      // archive entry number that defined it; -1 if implied
	parent int      // index of the parent in Index.nodes (the root's is 0)
	kids   []*Entry // children in name order (directories only)
}

// Name is the last element of the path ("/" for the root).
func (e *Entry) Name() string { return path.Base(e.Path) }

// Type is the file type bits of Mode.
func (e *Entry) Type() uint32 { return e.Mode & cpio.ModeType }

// Perm is the permission, set-id and sticky bits of Mode.
func (e *Entry) Perm() uint32 { return e.Mode & cpio.ModePerm }

// IsDir reports whether e is a directory.
func (e *Entry) IsDir() bool { return e.Type() == cpio.ModeDir }

// IsRegular reports whether e is a regular file.
func (e *Entry) IsRegular() bool { return e.Type() == cpio.ModeRegular }

// IsSymlink reports whether e is a symbolic link (its data is the target).
func (e *Entry) IsSymlink() bool { return e.Type() == cpio.ModeSymlink }

// Index is the parsed metadata of an image. It is read-only after Parse
// and safe for concurrent readers.
type Index struct {
	nodes []Entry // sorted by Path; nodes[0] is the root
	size  uint64  // image size
	end   uint64  // offset just past the trailer entry
}

// Parse reads the archive in an image of size bytes through read and
// returns its index, or an *Error.
func Parse(size uint64, read ReadFunc) (*Index, error) {
	if size > MaxImageSize {
		return nil, &Error{Entry: -1, Err: fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, MaxImageSize)}
	}
	if read == nil {
		return nil, &Error{Entry: -1, Err: fmt.Errorf("%w: no read function", ErrRead)}
	}
	p := parser{
		r:      imageReader{size: size, read: read, buf: make([]byte, window)},
		byPath: map[string]int{"/": 0},
		nodes:  []Entry{{Path: "/", Mode: cpio.ModeDir | 0o755, NLink: 2, Implied: true, src: -1}},
	}
	end, err := p.walk()
	if err != nil {
		return nil, err
	}
	return p.index(end), nil
}

// parser is Parse's state.
type parser struct {
	r      imageReader
	nodes  []Entry        // in order of creation; nodes[0] is the root
	byPath map[string]int // path -> index in nodes
}

// walk reads every entry up to the trailer and returns the offset after it.
func (p *parser) walk() (uint64, error) {
	off := uint64(0)
	for n := 0; ; n++ {
		e := &Error{Entry: n, Offset: off}
		if n > MaxEntries {
			e.Err = fmt.Errorf("%w: more than %d", ErrTooMany, MaxEntries)
			return 0, e
		}
		h, name, err := p.header(off)
		e.Name = name
		if err != nil {
			e.Err = err
			return 0, e
		}
		if name == cpio.Trailer {
			if h.FileSize != 0 {
				e.Err = fmt.Errorf("%w: trailer carries %d bytes of data", ErrBadHeader, h.FileSize)
				return 0, e
			}
			// The trailer's name padding may be cut off by the end of
			// the image.
			return min(h.DataOffset(off), p.r.size), nil
		}
		dataOff := h.DataOffset(off)
		if dataOff > p.r.size || uint64(h.FileSize) > p.r.size-dataOff {
			e.Err = fmt.Errorf("%w: %d bytes of data at offset %#x run past the end of the %d-byte image",
				ErrTruncated, h.FileSize, dataOff, p.r.size)
			return 0, e
		}
		if err := checkMode(&h); err != nil {
			e.Err = err
			return 0, e
		}
		if h.CRC && h.Mode&cpio.ModeType == cpio.ModeRegular {
			sum, err := p.r.sum(dataOff, uint64(h.FileSize))
			if err != nil {
				e.Err = err
				return 0, e
			}
			if sum != h.Check {
				e.Err = fmt.Errorf("%w: data sums to 0x%08x, header says 0x%08x", ErrChecksum, sum, h.Check)
				return 0, e
			}
		}
		clean, err := cleanName(name)
		if err != nil {
			e.Err = err
			return 0, e
		}
		if err := p.add(n, clean, &h, dataOff); err != nil {
			e.Err = err
			return 0, e
		}
		off = h.NextOffset(off)
	}
}

// header reads and decodes the header and name of the entry at off.
func (p *parser) header(off uint64) (cpio.Header, string, error) {
	size := p.r.size
	if off >= size {
		return cpio.Header{}, "", ErrNoTrailer
	}
	if size-off < cpio.HeaderSize {
		return cpio.Header{}, "", fmt.Errorf("%w: header needs %d bytes, %d left in the image",
			ErrTruncated, cpio.HeaderSize, size-off)
	}
	b, err := p.r.at(off, cpio.HeaderSize)
	if err != nil {
		return cpio.Header{}, "", err
	}
	h, field, err := cpio.ParseHeader(b)
	switch {
	case errors.Is(err, cpio.ErrBadMagic):
		return h, "", fmt.Errorf("%w: %w: %q", ErrBadHeader, err, b[:6])
	case err != nil:
		return h, "", fmt.Errorf("%w: %w: field %s is %q", ErrBadHeader, err,
			cpio.FieldNames[field], b[6+8*field:14+8*field])
	}
	if h.NameSize < 2 || h.NameSize > MaxNameSize {
		return h, "", fmt.Errorf("%w: name size %d (want 2..%d)", ErrBadName, h.NameSize, MaxNameSize)
	}
	nameOff := off + cpio.HeaderSize
	if size-nameOff < uint64(h.NameSize) {
		return h, "", fmt.Errorf("%w: %d-byte name runs past the end of the %d-byte image",
			ErrTruncated, h.NameSize, size)
	}
	nb, err := p.r.at(nameOff, int(h.NameSize))
	if err != nil {
		return h, "", err
	}
	if nb[len(nb)-1] != 0 {
		return h, "", fmt.Errorf("%w: name %q is not NUL-terminated", ErrBadName, nb)
	}
	name := string(nb[:len(nb)-1])
	if strings.IndexByte(name, 0) >= 0 {
		return h, name, fmt.Errorf("%w: NUL inside the name", ErrBadName)
	}
	return h, name, nil
}

// checkMode validates the type and size of an entry.
func checkMode(h *cpio.Header) error {
	if h.Mode&^(cpio.ModeType|cpio.ModePerm) != 0 {
		return fmt.Errorf("%w: %#o has bits above the file type", ErrBadMode, h.Mode)
	}
	switch h.Mode & cpio.ModeType {
	case cpio.ModeRegular:
		return nil
	case cpio.ModeSymlink:
		if h.FileSize == 0 || h.FileSize > MaxSymlinkSize {
			return fmt.Errorf("%w: symlink target of %d bytes (want 1..%d)", ErrBadMode, h.FileSize, MaxSymlinkSize)
		}
		return nil
	case cpio.ModeDir, cpio.ModeCharDev, cpio.ModeBlockDev, cpio.ModeFIFO, cpio.ModeSocket:
		if h.FileSize != 0 {
			return fmt.Errorf("%w: a %s with %d bytes of data", ErrBadMode, cpio.TypeName(h.Mode), h.FileSize)
		}
		return nil
	}
	return fmt.Errorf("%w: %s in mode %#o", ErrBadMode, cpio.TypeName(h.Mode), h.Mode)
}

// cleanName turns an archive name into an absolute path. It accepts an
// optional leading "/" or "./" before a clean relative path, and "." or
// "/" for the root.
func cleanName(name string) (string, error) {
	if name == "." || name == "/" {
		return "/", nil
	}
	n := name
	if strings.HasPrefix(n, "./") {
		n = n[2:]
	} else if strings.HasPrefix(n, "/") {
		n = n[1:]
	}
	if n == "" || n[0] == '/' || n == ".." || strings.HasPrefix(n, "../") || path.Clean(n) != n {
		return "", fmt.Errorf("%w: not a clean path", ErrBadName)
	}
	return "/" + n, nil
}

// add records archive entry n at path p, creating implied parents.
func (p *parser) add(n int, pth string, h *cpio.Header, dataOff uint64) error {
	if err := p.parents(pth, h.Mode); err != nil {
		return err
	}
	e := Entry{Path: pth, Mode: h.Mode, Size: uint64(h.FileSize), DataOff: dataOff, MTime: h.MTime,
		UID: h.UID, GID: h.GID, NLink: h.NLink, RDevMajor: h.RDevMajor, RDevMinor: h.RDevMinor, src: n}
	if h.FileSize == 0 {
		e.DataOff = 0
	}
	if i, ok := p.byPath[pth]; ok {
		old := &p.nodes[i]
		if !old.Implied {
			return fmt.Errorf("%w: %s already defined by entry %d", ErrDuplicate, pth, old.src)
		}
		if e.Type() != cpio.ModeDir {
			return fmt.Errorf("%w: %s is a %s here, but a directory above (a parent of another path)",
				ErrNotDir, pth, cpio.TypeName(h.Mode))
		}
		*old = e
		return nil
	}
	return p.node(e)
}

// parents makes sure every ancestor of pth exists as a directory.
func (p *parser) parents(pth string, mode uint32) error {
	var missing []string
	for d := path.Dir(pth); ; d = path.Dir(d) {
		i, ok := p.byPath[d]
		if ok {
			if !p.nodes[i].IsDir() {
				return fmt.Errorf("%w: parent %s of %s is a %s", ErrNotDir, d, pth, cpio.TypeName(p.nodes[i].Mode))
			}
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := Entry{Path: missing[i], Mode: cpio.ModeDir | 0o755, NLink: 2, Implied: true, src: -1}
		if err := p.node(d); err != nil {
			return err
		}
	}
	return nil
}

// node appends a new node, enforcing MaxEntries.
func (p *parser) node(e Entry) error {
	if len(p.nodes) >= MaxEntries {
		return fmt.Errorf("%w: %s would be node %d, limit %d", ErrTooMany, e.Path, len(p.nodes)+1, MaxEntries)
	}
	p.byPath[e.Path] = len(p.nodes)
	p.nodes = append(p.nodes, e)
	return nil
}

// index sorts the nodes by path and links parents and children.
func (p *parser) index(end uint64) *Index {
	ix := &Index{nodes: p.nodes, size: p.r.size, end: end}
	sort.Slice(ix.nodes, func(i, j int) bool { return ix.nodes[i].Path < ix.nodes[j].Path })
	for i := range ix.nodes {
		e := &ix.nodes[i]
		e.Ino = uint64(i) + 1
		if i == 0 {
			continue // the root: "/" sorts first
		}
		// A parent's path is a prefix of its child's, so it sorts
		// earlier; and children of one directory share that prefix, so
		// visiting in path order appends them in name order.
		e.parent = ix.find(path.Dir(e.Path))
		par := &ix.nodes[e.parent]
		par.kids = append(par.kids, e)
	}
	return ix
}

// find returns the index of the node at the clean path p, or -1.
func (ix *Index) find(p string) int {
	lo, hi := 0, len(ix.nodes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ix.nodes[m].Path < p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(ix.nodes) && ix.nodes[lo].Path == p {
		return lo
	}
	return -1
}

// Lookup returns the entry at path p. A relative p is taken from the
// root; p is cleaned ("..", "." and repeated slashes resolved lexically).
// Symbolic links are not followed.
func (ix *Index) Lookup(p string) (*Entry, bool) {
	if p == "" {
		return nil, false
	}
	if p[0] != '/' {
		p = "/" + p
	}
	i := ix.find(path.Clean(p))
	if i < 0 {
		return nil, false
	}
	return &ix.nodes[i], true
}

// Stat returns a copy of the entry at path p, or an *fs.PathError wrapping
// fs.ErrNotExist.
func (ix *Index) Stat(p string) (Entry, error) {
	e, ok := ix.Lookup(p)
	if !ok {
		return Entry{}, &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
	}
	return *e, nil
}

// ReadDir returns the entries of the directory at path p in name order,
// without "." and "..". The slice is shared: do not modify it. Errors are
// *fs.PathError wrapping fs.ErrNotExist or ErrNotDir.
func (ix *Index) ReadDir(p string) ([]*Entry, error) {
	e, ok := ix.Lookup(p)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: fs.ErrNotExist}
	}
	if !e.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: ErrNotDir}
	}
	return e.kids, nil
}

// Parent returns the directory containing e (the root for the root).
func (ix *Index) Parent(e *Entry) *Entry { return &ix.nodes[e.parent] }

// Root returns the root directory.
func (ix *Index) Root() *Entry { return &ix.nodes[0] }

// Entries returns every node in path order, the root first. The slice is
// shared: do not modify it.
func (ix *Index) Entries() []Entry { return ix.nodes }

// Len is the number of nodes, the root included.
func (ix *Index) Len() int { return len(ix.nodes) }

// Size is the size of the image Parse was given.
func (ix *Index) Size() uint64 { return ix.size }

// End is the offset just past the trailer entry (and its padding, if the
// image has it): the archive's length, at most Size.
func (ix *Index) End() uint64 { return ix.end }

// SliceReader returns a ReadFunc over an image held in memory (for host
// tools and tests).
func SliceReader(img []byte) ReadFunc {
	return func(off uint64, dst []byte) error {
		if off > uint64(len(img)) || uint64(len(dst)) > uint64(len(img))-off {
			return fmt.Errorf("read of %d bytes at %#x outside the %d-byte image", len(dst), off, len(img))
		}
		copy(dst, img[off:])
		return nil
	}
}

// imageReader serves Parse's small reads from a window of the image.
type imageReader struct {
	size uint64
	read ReadFunc
	buf  []byte // the window's storage (window bytes)
	big  []byte // for names longer than the window
	off  uint64 // image offset of buf[0]
	n    int    // valid bytes in buf
}

// at returns the n bytes at off; the caller checked off+n <= size. The
// result is valid until the next call.
func (r *imageReader) at(off uint64, n int) ([]byte, error) {
	if off >= r.off && off-r.off <= uint64(r.n) && uint64(n) <= uint64(r.n)-(off-r.off) {
		return r.buf[off-r.off:][:n], nil
	}
	if n > len(r.buf) {
		if len(r.big) < n {
			r.big = make([]byte, MaxNameSize)
		}
		if err := r.fill(off, r.big[:n]); err != nil {
			return nil, err
		}
		return r.big[:n], nil
	}
	m := uint64(len(r.buf))
	if r.size-off < m {
		m = r.size - off
	}
	r.n = 0
	if err := r.fill(off, r.buf[:m]); err != nil {
		return nil, err
	}
	r.off, r.n = off, int(m)
	return r.buf[:n], nil
}

// sum is the cpio "crc" checksum of n bytes at off (off+n <= size).
func (r *imageReader) sum(off, n uint64) (uint32, error) {
	var s uint32
	r.n = 0 // the window is reused as the buffer
	for n > 0 {
		m := uint64(len(r.buf))
		if n < m {
			m = n
		}
		if err := r.fill(off, r.buf[:m]); err != nil {
			return 0, err
		}
		s += cpio.Sum(r.buf[:m])
		off += m
		n -= m
	}
	return s, nil
}

// fill calls the read function and labels its failure.
func (r *imageReader) fill(off uint64, dst []byte) error {
	if err := r.read(off, dst); err != nil {
		return fmt.Errorf("%w: %d bytes at offset %#x: %w", ErrRead, len(dst), off, err)
	}
	return nil
}
