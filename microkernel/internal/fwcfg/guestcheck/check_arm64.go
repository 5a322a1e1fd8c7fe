package main

import (
	"unsafe"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/fwcfg"
)

// entry is the ELF entry point (entry_arm64.s).
func entry()

const (
	fwcfgBase  = 0x09020000 // QEMU virt; the kernel takes it from the DTB
	psciOff    = 0x84000008 // PSCI SYSTEM_OFF
	bufSize    = 64 << 10
	testName   = "opt/armos/test"
	imageName  = "opt/armos/image"
	stackSize  = 64 << 10
	tablesSize = 8 << 10
)

// Statically allocated: there is no runtime. RAM is mapped 1:1, so an
// address is its own physical address.
var (
	stack   [stackSize]byte
	tables  [tablesSize / 8]uint64 // the L1 table, aligned in entry
	fakeG   [64]uintptr            // g with a zero stack guard: prologues pass
	scratch [fwcfg.ScratchSize/8 + 1]uint64
	selfBuf [fwcfg.SelfTestSize / 8]uint64
	buf     [bufSize / 8]uint64
	goBuf   [3000]byte
	bounce  [512]uint64
	failed  bool
)

//go:nosplit
func dmaOf(p unsafe.Pointer) fwcfg.DMA {
	return fwcfg.DMA{Virt: uintptr(p), Phys: uint64(uintptr(p))}
}

// check runs every step and powers off.
//
//go:nosplit
func check() {
	puts("guestcheck: start\n")
	run()
	if failed {
		puts("guestcheck: FAIL\n")
	} else {
		puts("guestcheck: PASS\n")
	}
	arch.HVCCall(psciOff, 0, 0, 0)
}

//go:nosplit
func run() {
	d, e := fwcfg.Probe(fwcfgBase, dmaOf(unsafe.Pointer(&scratch)))
	if !ok("probe", e) {
		return
	}
	puts("features ")
	putHex(uint64(d.Features()))
	puts("\n")

	f, e := d.Find(testName)
	if !ok("find "+testName, e) {
		return
	}
	puts("file " + testName + " select ")
	putHex(uint64(f.Select))
	puts(" size ")
	putHex(uint64(f.Size))
	puts("\n")

	if ok("selftest", d.SelfTest(f, dmaOf(unsafe.Pointer(&selfBuf)))) {
		puts("selftest ok\n")
	}

	size := uint64(f.Size)
	readCheck(&d, f, 0, bufSize)
	readCheck(&d, f, 1, 1)
	readCheck(&d, f, 4093, 7)
	readCheck(&d, f, 12345, 4000)
	if size > 3 {
		readCheck(&d, f, size/2+3, bufSize)
	}
	if size > 100 {
		readCheck(&d, f, size-100, 100)
	}
	if size > 0 {
		readCheck(&d, f, size-1, 1)
	}
	copyCheck(&d, f, size/3)

	buf[0] = 0x1122334455667788
	if e := d.ReadAt(f, size, uint64(uintptr(unsafe.Pointer(&buf))), 1); e != fwcfg.ErrRange || buf[0] != 0x1122334455667788 {
		fail("read past the end not refused", e)
	}
	if _, e := d.Find("opt/armos/missing"); e != fwcfg.ErrNotFound {
		fail("find of a missing file", e)
	}

	img, e := d.Find(imageName)
	if e == fwcfg.ErrNotFound {
		puts("no " + imageName + "\n")
		return
	}
	if !ok("find "+imageName, e) {
		return
	}
	puts("file " + imageName + " select ")
	putHex(uint64(img.Select))
	puts(" size ")
	putHex(uint64(img.Size))
	puts("\n")
	if e := d.ReadAt(img, 0, uint64(uintptr(unsafe.Pointer(&buf))), 6); !ok("read "+imageName, e) {
		return
	}
	b := (*[6]byte)(unsafe.Pointer(&buf))
	if string(b[:]) != "070701" {
		fail(imageName+" does not start with 070701", fwcfg.OK)
	} else {
		puts(imageName + " starts with 070701\n")
	}
}

// readCheck reads [off, off+n) (clipped to the file) with ReadAt and
// compares it with Pattern.
//
//go:nosplit
func readCheck(d *fwcfg.Device, f fwcfg.File, off, n uint64) {
	if off >= uint64(f.Size) {
		return
	}
	n = min(n, uint64(f.Size)-off, bufSize)
	b := (*[bufSize]byte)(unsafe.Pointer(&buf))
	for i := range b[:n] {
		b[i] = ^Pattern(off + uint64(i))
	}
	if e := d.ReadAt(f, off, uint64(uintptr(unsafe.Pointer(&buf))), uint32(n)); e != fwcfg.OK {
		fail("readat", e)
		return
	}
	for i := uint64(0); i < n; i++ {
		if b[i] != Pattern(off+i) {
			puts("readat mismatch at ")
			putHex(off + i)
			puts("\n")
			failed = true
			return
		}
	}
	puts("readat ")
	putHex(off)
	puts("+")
	putHex(n)
	puts(" ok\n")
}

// copyCheck reads into ordinary memory through a small bounce buffer.
//
//go:nosplit
func copyCheck(d *fwcfg.Device, f fwcfg.File, off uint64) {
	n := min(uint64(len(goBuf)), uint64(f.Size)-off)
	if e := d.CopyAt(f, off, goBuf[:n], dmaOf(unsafe.Pointer(&bounce)), uint32(len(bounce)*8)); e != fwcfg.OK {
		fail("copyat", e)
		return
	}
	for i := uint64(0); i < n; i++ {
		if goBuf[i] != Pattern(off+i) {
			puts("copyat mismatch at ")
			putHex(off + i)
			puts("\n")
			failed = true
			return
		}
	}
	puts("copyat ")
	putHex(off)
	puts("+")
	putHex(n)
	puts(" ok\n")
}

//go:nosplit
func ok(what string, e fwcfg.Errno) bool {
	if e != fwcfg.OK {
		fail(what, e)
		return false
	}
	return true
}

//go:nosplit
func fail(what string, e fwcfg.Errno) {
	failed = true
	puts("error: " + what + ": ")
	puts(e.Error())
	puts("\n")
}

//go:nosplit
func puts(s string) {
	for i := 0; i < len(s); i++ {
		arch.PutByte(s[i])
	}
}

//go:nosplit
func putHex(v uint64) {
	arch.PutByte('0')
	arch.PutByte('x')
	started := false
	for shift := 60; shift >= 0; shift -= 4 {
		d := byte(v>>uint(shift)) & 0xf
		if d != 0 || started || shift == 0 {
			started = true
			arch.PutByte("0123456789abcdef"[d])
		}
	}
}
