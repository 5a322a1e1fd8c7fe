package rt

import "armos/microkernel/internal/mm"

// Files of the boot image: an open file object records where its data
// lies in the image; read and pread copy it into the process page by page
// through imageRead, which the boot image's device provides (QEMU fw_cfg:
// a DMA read straight into the destination page).

// imageReader reads n bytes at offset off of the boot image into the
// physical page range at pa (within one page). Set at boot when the
// image's device is found; nil means no image.
var imageReader func(off uint64, pa uint64, n uint32) bool

// fileRead reads up to n bytes of file object o into va, at the file's
// position (advancing it) or, with at, at offset off.
//
//go:nosplit
func fileRead(o int32, va, n uint64, at bool, off uint64) uint64 {
	ob := &objs[o]
	pos := ob.pos
	if at {
		pos = off
	}
	if pos >= ob.fileSize || n == 0 {
		return 0
	}
	if n > ob.fileSize-pos {
		n = ob.fileSize - pos
	}
	if n > maxIOChunk*16 {
		n = maxIOChunk * 16
	}
	if imageReader == nil {
		return errno(EIO)
	}
	as := space(curProc())
	done := uint64(0)
	for done < n {
		// One destination page at a time, straight into the process.
		k := pageSize - (va+done)%pageSize
		if k > n-done {
			k = n - done
		}
		pa, _, e := as.WritablePA(va + done)
		if e != mm.OK || !imageReader(ob.fileOff+pos+done, pa, uint32(k)) {
			if done == 0 {
				return errno(EFAULT)
			}
			break
		}
		done += k
	}
	if !at {
		ob.pos = pos + done
	}
	return done
}
