package proc

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"path"
	"strings"

	"armos/microkernel/internal/bootimg"
	"armos/microkernel/internal/rt"
)

// The system-call services: file system calls on the boot image and
// execve, which the trap layer hands to kernel Go code (rt.ServiceCall).

// Linux constants the services use.
const (
	atFdcwd           = -100
	atSymlinkNofollow = 0x100
	atEaccess         = 0x200
	atEmptyPath       = 0x1000

	oAccmode   = 3
	oRdonly    = 0
	oCreat     = 0x40
	oExcl      = 0x80
	oTrunc     = 0x200
	oAppend    = 0x400
	oNonblock  = 0x800
	oDirectory = 0x4000
	oNofollow  = 0x8000
	oPath      = 0x200000
	oCloexec   = 0x80000

	wOK = 2
	xOK = 1

	maxPath   = 4096
	maxArgs   = 4096      // argv and envp entries each
	maxArgLen = 256 << 10 // argv and envp bytes together

	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFCHR = 0o020000
)

// Linux errno values the services return.
const (
	ePERM        = 1
	eNOENT       = 2
	eSRCH        = 3
	eIO          = 5
	eE2BIG       = 7
	eNOEXEC      = 8
	eBADF        = 9
	eACCES       = 13
	eFAULT       = 14
	eEXIST       = 17
	eNOTDIR      = 20
	eISDIR       = 21
	eINVAL       = 22
	eROFS        = 30
	eNAMETOOLONG = 36
	eNOSYS       = 38
	eLOOP        = 40
)

// ServiceWorkers is how many calls are served at once: a slow one (an
// execve loading a large program) leaves the others to the rest. Workers
// live for good, so their stacks, grown once, serve every later call (a
// goroutine per call paid a stack growth, ~30k instructions, each time).
const ServiceWorkers = 4

// Serve completes system-call services forever. Run it in a goroutine.
func (f *FS) Serve() {
	for range ServiceWorkers - 1 {
		go f.serveCalls()
	}
	f.serveCalls()
}

// serveCalls is one service worker.
func (f *FS) serveCalls() {
	for {
		f.handle(rt.NextServiceCall())
	}
}

// handle completes one call (execve completes itself when it succeeds).
func (f *FS) handle(c rt.ServiceCall) {
	r, done := f.call(c)
	if !done {
		c.Complete(r)
	}
}

// call serves c; done reports that the call was already completed.
func (f *FS) call(c rt.ServiceCall) (uint64, bool) {
	a := c.Args
	switch c.Nr {
	case 56: // openat(dirfd, path, flags, mode)
		return f.openat(c, int32(a[0]), a[1], uint32(a[2])), false
	case 79: // newfstatat(dirfd, path, statbuf, flags)
		return f.fstatat(c, int32(a[0]), a[1], a[2], uint32(a[3])), false
	case 48, 439: // faccessat(dirfd, path, mode), faccessat2(..., flags)
		return f.faccessat(c, int32(a[0]), a[1], uint32(a[2])), false
	case 78: // readlinkat(dirfd, path, buf, size)
		return f.readlinkat(c, int32(a[0]), a[1], a[2], a[3]), false
	case 61: // getdents64(fd, dirp, count)
		return f.getdents(c, int(a[0]), a[1], a[2]), false
	case 49: // chdir(path)
		return f.chdir(c, a[0]), false
	case 221: // execve(path, argv, envp)
		return f.execve(c, a[0], a[1], a[2])
	}
	return rt.Errno(eNOSYS), false // statx and others: the caller falls back
}

// errnoOf maps a lookup error to its errno.
func errnoOf(err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return eNOENT
	case errors.Is(err, ErrNotDir):
		return eNOTDIR
	case errors.Is(err, ErrLoop):
		return eLOOP
	case errors.Is(err, rt.ErrFault):
		return eFAULT
	case errors.Is(err, errNameTooLong):
		return eNAMETOOLONG
	}
	return eIO
}

var errNameTooLong = errors.New("path too long")

// specialFile is a file outside the image.
type specialFile struct {
	path string
	kind int
	rdev uint64
}

var specials = []specialFile{
	{"/dev/null", rt.SpecialNull, 1<<8 | 3},
	{"/dev/console", rt.SpecialConsole, 5<<8 | 1},
	{"/dev/tty", rt.SpecialConsole, 5<<8 | 0},
}

func special(p string) (specialFile, bool) {
	for _, s := range specials {
		if s.path == p {
			return s, true
		}
	}
	return specialFile{}, false
}

// resolve reads the path argument at va and makes it absolute: relative
// to / or, for a directory descriptor, to that directory.
func (f *FS) resolve(c rt.ServiceCall, dirfd int32, va uint64, emptyOK bool) (string, error) {
	p, err := rt.ReadProcessString(c.Pid, va, maxPath)
	if err != nil {
		if errors.Is(err, rt.ErrFault) {
			return "", err
		}
		return "", errNameTooLong
	}
	if p == "" && !emptyOK {
		return "", fs.ErrNotExist
	}
	if strings.HasPrefix(p, "/") || dirfd == atFdcwd {
		return path.Join("/", p), nil
	}
	st := rt.FileOf(c, int(dirfd))
	switch {
	case st.Kind == rt.FileNone:
		return "", errBadFd
	case st.Kind != rt.FileImage || st.Mode&sIFMT != sIFDIR:
		return "", ErrNotDir
	}
	dir, ok := f.Entry(st.Ino)
	if !ok {
		return "", errBadFd
	}
	return path.Join(dir.Path, p), nil
}

var errBadFd = errors.New("bad file descriptor")

// errno returns the call result for err.
func errnoResult(err error) uint64 {
	if errors.Is(err, errBadFd) {
		return rt.Errno(eBADF)
	}
	return rt.Errno(errnoOf(err))
}

// openat opens an image file or directory, or a special file.
func (f *FS) openat(c rt.ServiceCall, dirfd int32, va uint64, flags uint32) uint64 {
	p, err := f.resolve(c, dirfd, va, false)
	if err != nil {
		return errnoResult(err)
	}
	keep := flags & (oAccmode | oNonblock | oAppend)
	if s, ok := special(p); ok {
		return rt.OpenFile(c, rt.FileObject{Special: s.kind, Flags: keep, Cloexec: flags&oCloexec != 0})
	}
	e, err := f.Lookup(p, flags&oNofollow != 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && flags&oCreat != 0 {
			return rt.Errno(eROFS)
		}
		return errnoResult(err)
	}
	switch {
	case flags&oCreat != 0 && flags&oExcl != 0:
		return rt.Errno(eEXIST)
	case e.IsSymlink() && flags&oPath == 0:
		return rt.Errno(eLOOP) // O_NOFOLLOW on a link
	case e.IsDir() && flags&oAccmode != oRdonly:
		return rt.Errno(eISDIR)
	case flags&oAccmode != oRdonly || flags&oTrunc != 0:
		return rt.Errno(eROFS)
	case flags&oDirectory != 0 && !e.IsDir():
		return rt.Errno(eNOTDIR)
	}
	return rt.OpenFile(c, rt.FileObject{Ino: e.Ino, DataOff: e.DataOff, Size: e.Size, Mode: e.Mode,
		Flags: keep, Cloexec: flags&oCloexec != 0})
}

// statOf returns struct stat (linux/arm64) for an image entry.
func statOf(e *bootimg.Entry) []byte {
	b := make([]byte, 128)
	le := binary.LittleEndian
	le.PutUint64(b[0:], 0x11)                // st_dev: the boot image
	le.PutUint64(b[8:], e.Ino)               // st_ino
	le.PutUint32(b[16:], e.Mode)             // st_mode
	le.PutUint32(b[20:], max(e.NLink, 1))    // st_nlink
	le.PutUint32(b[24:], e.UID)              // st_uid
	le.PutUint32(b[28:], e.GID)              // st_gid
	le.PutUint64(b[48:], e.Size)             // st_size
	le.PutUint32(b[56:], 4096)               // st_blksize
	le.PutUint64(b[64:], (e.Size+511)/512)   // st_blocks
	for _, off := range []int{72, 88, 104} { // atime, mtime, ctime
		le.PutUint64(b[off:], uint64(e.MTime))
	}
	return b
}

// statSpecial returns struct stat for a special file.
func statSpecial(s specialFile) []byte {
	b := make([]byte, 128)
	le := binary.LittleEndian
	le.PutUint64(b[0:], 0x10)
	le.PutUint32(b[16:], sIFCHR|0o666)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], s.rdev)
	le.PutUint32(b[56:], 4096)
	return b
}

// fstatat writes struct stat for a path (or, with AT_EMPTY_PATH, a descriptor).
func (f *FS) fstatat(c rt.ServiceCall, dirfd int32, va, buf uint64, flags uint32) uint64 {
	var st []byte
	if flags&atEmptyPath != 0 {
		if p, err := rt.ReadProcessString(c.Pid, va, maxPath); err == nil && p == "" {
			fi := rt.FileOf(c, int(dirfd))
			if fi.Kind == rt.FileNone {
				return rt.Errno(eBADF)
			}
			st = fi.Stat[:]
		}
	}
	if st == nil {
		p, err := f.resolve(c, dirfd, va, false)
		if err != nil {
			return errnoResult(err)
		}
		if s, ok := special(p); ok {
			st = statSpecial(s)
		} else {
			e, err := f.Lookup(p, flags&atSymlinkNofollow != 0)
			if err != nil {
				return errnoResult(err)
			}
			st = statOf(e)
		}
	}
	if rt.WriteProcess(c.Pid, buf, st) != nil {
		return rt.Errno(eFAULT)
	}
	return 0
}

// faccessat checks a path: it exists, is never writable (the image is
// read-only; special files are), and is executable if asked.
func (f *FS) faccessat(c rt.ServiceCall, dirfd int32, va uint64, mode uint32) uint64 {
	if mode&^7 != 0 {
		return rt.Errno(eINVAL)
	}
	p, err := f.resolve(c, dirfd, va, false)
	if err != nil {
		return errnoResult(err)
	}
	if _, ok := special(p); ok {
		if mode&xOK != 0 {
			return rt.Errno(eACCES)
		}
		return 0
	}
	e, err := f.Lookup(p, false)
	if err != nil {
		return errnoResult(err)
	}
	if mode&wOK != 0 {
		return rt.Errno(eROFS)
	}
	if mode&xOK != 0 && e.Perm()&0o111 == 0 {
		return rt.Errno(eACCES)
	}
	return 0
}

// readlinkat copies a link's target (no NUL) and returns its length.
func (f *FS) readlinkat(c rt.ServiceCall, dirfd int32, va, buf, size uint64) uint64 {
	if int64(size) <= 0 {
		return rt.Errno(eINVAL)
	}
	p, err := f.resolve(c, dirfd, va, false)
	if err != nil {
		return errnoResult(err)
	}
	target, err := f.Readlink(p)
	if errors.Is(err, fs.ErrInvalid) {
		return rt.Errno(eINVAL)
	}
	if err != nil {
		return errnoResult(err)
	}
	b := []byte(target)
	if uint64(len(b)) > size {
		b = b[:size]
	}
	if rt.WriteProcess(c.Pid, buf, b) != nil {
		return rt.Errno(eFAULT)
	}
	return uint64(len(b))
}

// dirent64 appends one struct linux_dirent64 to b if it fits in max.
func dirent64(b []byte, max int, ino uint64, off int64, typ uint8, name string) ([]byte, bool) {
	reclen := (19 + len(name) + 1 + 7) &^ 7
	if len(b)+reclen > max {
		return b, false
	}
	rec := make([]byte, reclen)
	le := binary.LittleEndian
	le.PutUint64(rec[0:], ino)
	le.PutUint64(rec[8:], uint64(off))
	le.PutUint16(rec[16:], uint16(reclen))
	rec[18] = typ
	copy(rec[19:], name)
	return append(b, rec...), true
}

// direntType returns the d_type of an entry.
func direntType(mode uint32) uint8 { return uint8(mode >> 12 & 0xf) }

// getdents reads entries of an open directory, from its position.
func (f *FS) getdents(c rt.ServiceCall, fd int, buf, count uint64) uint64 {
	st := rt.FileOf(c, fd)
	switch {
	case st.Kind == rt.FileNone:
		return rt.Errno(eBADF)
	case st.Kind != rt.FileImage || st.Mode&sIFMT != sIFDIR:
		return rt.Errno(eNOTDIR)
	}
	dir, ok := f.Entry(st.Ino)
	if !ok {
		return rt.Errno(eBADF)
	}
	kids, err := f.ReadDir(dir)
	if err != nil {
		return rt.Errno(eIO)
	}
	max := int(min(count, 64<<10))
	var out []byte
	pos := st.Pos
	for ; pos < uint64(len(kids))+2; pos++ {
		var fits bool
		switch pos {
		case 0:
			out, fits = dirent64(out, max, dir.Ino, int64(pos+1), 4, ".")
		case 1:
			out, fits = dirent64(out, max, f.parentIno(dir), int64(pos+1), 4, "..")
		default:
			k := kids[pos-2]
			out, fits = dirent64(out, max, k.Ino, int64(pos+1), direntType(k.Mode), k.Name())
		}
		if !fits {
			break
		}
	}
	if len(out) == 0 && pos < uint64(len(kids))+2 {
		return rt.Errno(eINVAL) // the buffer holds not even one entry
	}
	if rt.WriteProcess(c.Pid, buf, out) != nil {
		return rt.Errno(eFAULT)
	}
	rt.SetFilePos(c, fd, pos)
	return uint64(len(out))
}

// parentIno returns the inode number of e's parent.
func (f *FS) parentIno(e *bootimg.Entry) uint64 { return f.ix.Parent(e).Ino }

// chdir: every process works in /; changing to / is all there is.
func (f *FS) chdir(c rt.ServiceCall, va uint64) uint64 {
	p, err := f.resolve(c, atFdcwd, va, false)
	if err != nil {
		return errnoResult(err)
	}
	e, err := f.Lookup(p, false)
	if err != nil {
		return errnoResult(err)
	}
	if !e.IsDir() {
		return rt.Errno(eNOTDIR)
	}
	if e.Path != "/" {
		return rt.Errno(ePERM) // no per-process working directory yet
	}
	return 0
}

// readStrings reads a NULL-terminated array of string pointers.
func readStrings(c rt.ServiceCall, va uint64, total *int) ([]string, uint64) {
	if va == 0 {
		return nil, 0
	}
	var out []string
	var ptrs [64 * 8]byte // pointers read at once, never past a page's end
	have := 0             // pointers in ptrs, from index base
	base := 0
	for i := 0; ; i++ {
		if i >= maxArgs {
			return nil, rt.Errno(eE2BIG)
		}
		if i-base >= have {
			at := va + uint64(8*i)
			n := min(len(ptrs), 8*max(1, int(4096-at%4096)/8))
			if rt.ReadProcess(c.Pid, at, ptrs[:n]) != nil {
				return nil, rt.Errno(eFAULT)
			}
			base, have = i, n/8
		}
		p := binary.LittleEndian.Uint64(ptrs[8*(i-base):])
		if p == 0 {
			return out, 0
		}
		s, err := rt.ReadProcessString(c.Pid, p, maxArgLen)
		if err != nil {
			if errors.Is(err, rt.ErrFault) {
				return nil, rt.Errno(eFAULT)
			}
			return nil, rt.Errno(eE2BIG)
		}
		if *total += len(s) + 1; *total > maxArgLen {
			return nil, rt.Errno(eE2BIG)
		}
		out = append(out, s)
	}
}

// execve(path, argv, envp).
func (f *FS) execve(c rt.ServiceCall, pathVA, argvVA, envVA uint64) (uint64, bool) {
	p, err := f.resolve(c, atFdcwd, pathVA, false)
	if err != nil {
		return errnoResult(err), false
	}
	total := 0
	argv, e := readStrings(c, argvVA, &total)
	if e != 0 {
		return e, false
	}
	env, e := readStrings(c, envVA, &total)
	if e != 0 {
		return e, false
	}
	if r := f.exec(c, p, argv, env); r != 0 {
		return r, false
	}
	return 0, true
}

// execErrno maps an image error to execve's errno.
func execErrno(err error) int {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrNotDir), errors.Is(err, ErrLoop):
		return errnoOf(err)
	case errors.Is(err, ErrNotELF), errors.Is(err, ErrNotARM64), errors.Is(err, ErrBadELF):
		return eNOEXEC
	}
	if strings.Contains(err.Error(), "not executable") || strings.Contains(err.Error(), "not a regular file") {
		return eACCES
	}
	return eIO
}
