package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"

	"armos/microkernel/internal/bootimg"
)

// FS is the file system processes see: the boot image's tree (read-only)
// plus /dev/null and /dev/console. Paths are absolute; the working
// directory of every process is /.
type FS struct {
	ix   *bootimg.Index
	read bootimg.ReadFunc

	// images caches the parsed ELF headers of the programs run so far,
	// by the file's offset in the image (the image never changes): a
	// program started again is neither read nor parsed again. It holds
	// at most one entry per file of the image.
	imagesMu sync.Mutex
	images   map[uint64]*Image
}

// NewFS indexes an image of size bytes read through read.
func NewFS(size uint64, read bootimg.ReadFunc) (*FS, error) {
	ix, err := bootimg.Parse(size, read)
	if err != nil {
		return nil, err
	}
	return &FS{ix: ix, read: read}, nil
}

// maxSymlinks bounds symbolic links followed in one lookup (Linux's 40).
const maxSymlinks = 40

// Errors of lookups, as the system calls report them.
var (
	ErrNotExist = fs.ErrNotExist
	ErrNotDir   = errors.New("not a directory")
	ErrLoop     = errors.New("too many levels of symbolic links")
)

// Lookup resolves p (relative paths are relative to /), following
// symbolic links except, with noFollow, in the last component.
func (f *FS) Lookup(p string, noFollow bool) (*bootimg.Entry, error) {
	return f.lookup(p, noFollow, 0)
}

func (f *FS) lookup(p string, noFollow bool, depth int) (*bootimg.Entry, error) {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	trailingSlash := len(p) > 1 && strings.HasSuffix(p, "/")
	parts := strings.Split(strings.Trim(p, "/"), "/")
	cur := f.ix.Root()
	for i, name := range parts {
		if name == "" || name == "." {
			continue
		}
		if !cur.IsDir() {
			return nil, ErrNotDir
		}
		if name == ".." {
			cur = f.ix.Parent(cur)
			continue
		}
		next, ok := f.ix.Lookup(path.Join(cur.Path, name))
		if !ok {
			return nil, ErrNotExist
		}
		last := i == len(parts)-1
		if next.IsSymlink() && (!last || !noFollow || trailingSlash) {
			if depth >= maxSymlinks {
				return nil, ErrLoop
			}
			target, err := f.readlink(next)
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(target, "/") {
				target = path.Join(cur.Path, target)
			}
			rest := strings.Join(parts[i+1:], "/")
			return f.lookup(path.Join(target, rest), noFollow, depth+1)
		}
		cur = next
	}
	if trailingSlash && !cur.IsDir() {
		return nil, ErrNotDir
	}
	return cur, nil
}

// readlink returns a symbolic link's target.
func (f *FS) readlink(e *bootimg.Entry) (string, error) {
	b := make([]byte, e.Size)
	if err := f.read(e.DataOff, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// Readlink returns the target of the link at p.
func (f *FS) Readlink(p string) (string, error) {
	e, err := f.Lookup(p, true)
	if err != nil {
		return "", err
	}
	if !e.IsSymlink() {
		return "", fs.ErrInvalid
	}
	return f.readlink(e)
}

// ReadFile returns the whole content of regular file e (at most max bytes).
func (f *FS) ReadFile(e *bootimg.Entry, max uint64) ([]byte, error) {
	if !e.IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", e.Path)
	}
	if e.Size > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", e.Path, e.Size, max)
	}
	b := make([]byte, e.Size)
	if err := f.read(e.DataOff, b); err != nil {
		return nil, fmt.Errorf("%s: reading the boot image: %w", e.Path, err)
	}
	return b, nil
}

// ReadDir lists directory e.
func (f *FS) ReadDir(e *bootimg.Entry) ([]*bootimg.Entry, error) { return f.ix.ReadDir(e.Path) }

// Entry returns the entry whose inode number is ino (from an open file).
func (f *FS) Entry(ino uint64) (*bootimg.Entry, bool) {
	es := f.ix.Entries()
	if ino == 0 || ino > uint64(len(es)) {
		return nil, false
	}
	return &es[ino-1], true
}

// Files lists every regular file of the image (for the boot report).
func (f *FS) Files() []*bootimg.Entry {
	var out []*bootimg.Entry
	es := f.ix.Entries()
	for i := range es {
		if es[i].IsRegular() {
			out = append(out, &es[i])
		}
	}
	return out
}
