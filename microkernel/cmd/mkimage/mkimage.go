package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"armos/microkernel/internal/bootimg"
	"armos/microkernel/internal/cpio"
)

// Options are the command's settings.
type Options struct {
	Dir      string // host files are relative to it ("" = current directory)
	AllowAny bool   // skip the static linux/arm64 check of files under /bin
}

// Item is one command-line entry.
type Item struct {
	Path string // absolute clean path in the image
	Host string // host file; "" for a directory
	Arg  string // the argument, for messages
}

// IsDir reports whether the item is a directory.
func (it Item) IsDir() bool { return it.Host == "" }

// ParseArgs turns "path=host-file" and "dir/" arguments into items.
func ParseArgs(args []string) ([]Item, error) {
	items := make([]Item, 0, len(args))
	for _, a := range args {
		var it Item
		if img, host, ok := strings.Cut(a, "="); ok {
			if host == "" {
				return nil, fmt.Errorf("argument %q: empty host file name", a)
			}
			p, err := imagePath(img)
			if err != nil {
				return nil, fmt.Errorf("argument %q: %w", a, err)
			}
			it = Item{Path: p, Host: host, Arg: a}
		} else if strings.HasSuffix(a, "/") {
			p, err := imagePath(strings.TrimRight(a, "/"))
			if a == "/" {
				p, err = "/", nil
			}
			if err != nil {
				return nil, fmt.Errorf("argument %q: %w", a, err)
			}
			it = Item{Path: p, Arg: a}
		} else {
			return nil, fmt.Errorf("argument %q: want path-in-image=host-file or dir/", a)
		}
		items = append(items, it)
	}
	return items, nil
}

// imagePath validates a path in the image and makes it absolute.
func imagePath(p string) (string, error) {
	q := strings.TrimPrefix(p, "/")
	switch {
	case q == "" || q == "." || q == ".." || strings.HasPrefix(q, "../") || strings.HasPrefix(q, "/") || path.Clean(q) != q:
		return "", fmt.Errorf("path in image %q is not a clean path", p)
	case q == cpio.Trailer:
		return "", fmt.Errorf("path in image %q is the cpio trailer's name", p)
	case len(q)+1 > cpio.MaxNameSize:
		return "", fmt.Errorf("path in image of %d bytes is longer than %d", len(q), cpio.MaxNameSize-1)
	case strings.IndexByte(q, 0) >= 0:
		return "", fmt.Errorf("path in image %q contains a NUL byte", p)
	}
	return "/" + q, nil
}

// node is an entry of the image being built.
type node struct {
	item Item   // the argument that made it; zero for an implied directory
	mode uint32 // type | permission bits
	data []byte
}

// Build reads the host files and returns the image. Errors name the
// argument and file concerned.
func Build(items []Item, opt Options) ([]byte, error) {
	nodes := map[string]*node{"/": {mode: cpio.ModeDir | 0o755}}
	for _, it := range items {
		if err := addParents(nodes, it); err != nil {
			return nil, err
		}
		old := nodes[it.Path]
		switch {
		case old == nil:
		case it.IsDir() && old.mode&cpio.ModeType == cpio.ModeDir:
			continue // a directory named twice, or already implied
		case old.item.Arg == "":
			return nil, fmt.Errorf("argument %q: %s must be a directory: earlier arguments put files inside it", it.Arg, it.Path)
		default:
			return nil, fmt.Errorf("argument %q: %s is already given by %q", it.Arg, it.Path, old.item.Arg)
		}
		n := &node{item: it, mode: cpio.ModeDir | 0o755}
		if !it.IsDir() {
			if err := n.load(opt); err != nil {
				return nil, err
			}
		}
		nodes[it.Path] = n
	}
	if len(nodes) > bootimg.MaxEntries {
		return nil, fmt.Errorf("%d entries (with the root and parent directories), the kernel accepts %d", len(nodes), bootimg.MaxEntries)
	}

	paths := make([]string, 0, len(nodes))
	for p := range nodes {
		if p != "/" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths) // a parent is a prefix of its children: it comes first
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	for _, p := range paths {
		n := nodes[p]
		if err := w.Write(cpio.Entry{Name: p[1:], Mode: n.mode, Data: n.data}); err != nil {
			return nil, err
		}
		if buf.Len() > bootimg.MaxImageSize {
			return nil, fmt.Errorf("image exceeds %d bytes (at %s)", bootimg.MaxImageSize, p)
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	img := buf.Bytes()
	if uint64(len(img)) > bootimg.MaxImageSize {
		return nil, fmt.Errorf("image of %d bytes exceeds %d", len(img), bootimg.MaxImageSize)
	}
	// The kernel's parser must accept the image.
	if _, err := bootimg.Parse(uint64(len(img)), bootimg.SliceReader(img)); err != nil {
		return nil, fmt.Errorf("internal error: the image does not parse: %w", err)
	}
	return img, nil
}

// addParents adds the directories above it.Path, refusing files in the
// way.
func addParents(nodes map[string]*node, it Item) error {
	for d := path.Dir(it.Path); d != "/"; d = path.Dir(d) {
		n := nodes[d]
		if n == nil {
			nodes[d] = &node{mode: cpio.ModeDir | 0o755}
			continue
		}
		if n.mode&cpio.ModeType != cpio.ModeDir {
			return fmt.Errorf("argument %q: %s is inside %s, which is a file (from %q)", it.Arg, it.Path, d, n.item.Arg)
		}
	}
	return nil
}

// load reads the node's host file and checks it.
func (n *node) load(opt Options) error {
	it := n.item
	host := it.Host
	if opt.Dir != "" && !filepath.IsAbs(host) {
		host = filepath.Join(opt.Dir, host)
	}
	st, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("argument %q: %w", it.Arg, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("argument %q: %s is not a regular file", it.Arg, host)
	}
	if st.Size() > bootimg.MaxImageSize {
		return fmt.Errorf("argument %q: %s has %d bytes, more than an image may hold (%d)", it.Arg, host, st.Size(), bootimg.MaxImageSize)
	}
	n.data, err = os.ReadFile(host)
	if err != nil {
		return fmt.Errorf("argument %q: %w", it.Arg, err)
	}
	inBin := strings.HasPrefix(it.Path, "/bin/")
	n.mode = cpio.ModeRegular | 0o644
	if inBin || st.Mode().Perm()&0o111 != 0 {
		n.mode = cpio.ModeRegular | 0o755
	}
	if inBin && !opt.AllowAny {
		if err := CheckStaticARM64(n.data); err != nil {
			return fmt.Errorf("%s (from %s) is not a static linux/arm64 executable: %w (use -allow-any to skip this check)", it.Path, host, err)
		}
	}
	return nil
}

// CheckStaticARM64 returns nil if data is a static linux/arm64 ELF
// executable: ELFCLASS64, ELFDATA2LSB, EM_AARCH64, OS ABI none (System V)
// or Linux, type ET_EXEC or ET_DYN (static PIE), at least one PT_LOAD and
// no PT_INTERP (no dynamic loader).
func CheckStaticARM64(data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil { // debug/elf on hostile input
			err = fmt.Errorf("malformed ELF file (%v)", r)
		}
	}()
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return errors.New("not an ELF file")
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("malformed ELF file: %w", err)
	}
	switch {
	case f.Class != elf.ELFCLASS64:
		return fmt.Errorf("class %v, want ELFCLASS64", f.Class)
	case f.Data != elf.ELFDATA2LSB:
		return fmt.Errorf("data encoding %v, want ELFDATA2LSB (little-endian)", f.Data)
	case f.Machine != elf.EM_AARCH64:
		return fmt.Errorf("machine %v, want EM_AARCH64", f.Machine)
	case f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX:
		return fmt.Errorf("OS ABI %v, want ELFOSABI_NONE or ELFOSABI_LINUX", f.OSABI)
	case f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN:
		return fmt.Errorf("type %v, want ET_EXEC or ET_DYN", f.Type)
	}
	loads := 0
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			interp := make([]byte, min(p.Filesz, 256))
			n, _ := p.ReadAt(interp, 0)
			return fmt.Errorf("dynamically linked (PT_INTERP %q)", strings.TrimRight(string(interp[:n]), "\x00"))
		case elf.PT_LOAD:
			loads++
		}
	}
	if loads == 0 {
		return errors.New("no PT_LOAD segment")
	}
	return nil
}
