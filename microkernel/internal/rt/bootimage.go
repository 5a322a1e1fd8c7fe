package rt

import (
	"errors"

	"armos/microkernel/internal/fwcfg"
)

// The boot image: a cpio archive QEMU hands over through its fw_cfg device
// (-fw_cfg name=opt/armos/image,file=...), read like a disk: random-access
// DMA reads, straight into a process's pages for read(2) of an image file,
// or through a bounce page into kernel memory for the loader and the
// archive index (package proc). The image is never copied into RAM whole.

// ImageName is the fw_cfg file name of the boot image.
const ImageName = "opt/armos/image"

var (
	imageDev    fwcfg.Device
	imageFile   fwcfg.File
	imageOK     bool
	imageBounce fwcfg.DMA // one page for CopyAt (kernel memory)
	imageErr    fwcfg.Errno
)

// initBootImage finds the image on the fw_cfg device, if there is one.
func initBootImage() {
	if bootInfo.FwCfg == 0 {
		imageErr = fwcfg.ErrNoDevice
		return
	}
	pa, va := allocPages(2)
	if va == 0 {
		imageErr = fwcfg.ErrScratch
		return
	}
	dev, e := fwcfg.Probe(kva(bootInfo.FwCfg), fwcfg.DMA{Virt: va, Phys: pa})
	if e != fwcfg.OK {
		imageErr = e
		return
	}
	f, e := dev.Find(ImageName)
	if e != fwcfg.OK {
		imageErr = e
		return
	}
	imageDev, imageFile, imageOK = dev, f, true
	imageBounce = fwcfg.DMA{Virt: va + pageSize, Phys: pa + pageSize}
	imageReader = imageReadAt
}

// imageReadAt reads n bytes at off of the image to physical address pa.
//
//go:nosplit
func imageReadAt(off uint64, pa uint64, n uint32) bool {
	return imageDev.ReadAt(imageFile, off, pa, n) == fwcfg.OK
}

// BootImage returns the boot image's size, or an error saying why there is
// none.
func BootImage() (uint64, error) {
	if !imageOK {
		return 0, errors.New("rt: no boot image (" + imageErr.Error() + "): pass -fw_cfg name=" + ImageName + ",file=IMAGE to QEMU")
	}
	return uint64(imageFile.Size), nil
}

// ReadImage copies len(dst) bytes at off of the boot image into dst.
func ReadImage(off uint64, dst []byte) error {
	if !imageOK {
		return errors.New("rt: no boot image")
	}
	touch(dst)
	for len(dst) > 0 {
		n := len(dst)
		if n > 64<<10 {
			n = 64 << 10 // one bounded locked section per 64 KiB
		}
		var e fwcfg.Errno
		Locked(func() { e = imageDev.CopyAt(imageFile, off, dst[:n], imageBounce, pageSize) })
		if e != fwcfg.OK {
			return e.Err()
		}
		dst = dst[n:]
		off += uint64(n)
	}
	return nil
}

// FileObject describes an image file or directory to open (OpenFile).
type FileObject struct {
	Ino     uint64 // the entry's number in the image index
	DataOff uint64 // where its data starts in the image
	Size    uint64
	Mode    uint32 // file type and permission bits
	Flags   uint32 // open flags kept (O_NONBLOCK, O_APPEND, access mode)
	Cloexec bool
	Special int // 0: an image file; specialNull, specialConsole
}

// Special files the service can open.
const (
	SpecialNone    = 0
	SpecialNull    = 1
	SpecialConsole = 2
)

// OpenFile gives the process waiting in call c a new descriptor for f and
// returns it (or -errno).
func OpenFile(c ServiceCall, f FileObject) uint64 {
	r := errno(ESRCH)
	Locked(func() {
		i := serviceThread(c.Tid)
		if i < 0 {
			return
		}
		var o int32
		switch f.Special {
		case SpecialConsole:
			o = consoleObj
			getObject(o)
		case SpecialNull:
			if o = allocObject(objNull, f.Flags); o < 0 {
				r = errno(ENFILE)
				return
			}
		default:
			if o = allocObject(objFile, f.Flags); o < 0 {
				r = errno(ENFILE)
				return
			}
			ob := &objs[o]
			ob.fileOff, ob.fileSize, ob.fileMode, ob.fileIno = f.DataOff, f.Size, f.Mode, f.Ino
		}
		p := int(th(i).proc)
		fd := lowestFd(p, 0)
		if fd < 0 {
			putObject(o)
			r = errno(EMFILE)
			return
		}
		installFd(p, fd, o, f.Cloexec)
		r = uint64(fd)
	})
	return r
}

// FileState is what FileOf reports about a descriptor.
type FileState struct {
	Kind int    // FileImage, FileOther
	Ino  uint64 // image files and directories: the entry number
	Mode uint32
	Pos  uint64
	Stat [128]byte // struct stat as fstat would write it
}

// Descriptor kinds FileOf reports.
const (
	FileNone  = 0
	FileImage = 1
	FileOther = 2
)

// FileOf describes descriptor fd of the process waiting in call c.
func FileOf(c ServiceCall, fd int) FileState {
	var st FileState
	Locked(func() {
		i := serviceThread(c.Tid)
		if i < 0 || fd < 0 || fd >= maxFds {
			return
		}
		o := pr(int(th(i).proc)).fds[fd].obj
		if o < 0 {
			return
		}
		st.Kind = FileOther
		if objs[o].kind == objFile {
			st.Kind, st.Ino, st.Mode, st.Pos = FileImage, objs[o].fileIno, objs[o].fileMode, objs[o].pos
		}
		var sb statBuf
		fstatObject(o, &sb)
		st.Stat = *(*[128]byte)(ptrOfStat(&sb))
	})
	return st
}

// SetFilePos moves descriptor fd's position (getdents64 on a directory).
func SetFilePos(c ServiceCall, fd int, pos uint64) {
	Locked(func() {
		i := serviceThread(c.Tid)
		if i < 0 || fd < 0 || fd >= maxFds {
			return
		}
		if o := pr(int(th(i).proc)).fds[fd].obj; o >= 0 && objs[o].kind == objFile {
			objs[o].pos = pos
		}
	})
}
