// Command badptr passes bad pointers and wrapping lengths to the system
// calls that take them and checks that each call fails the way Linux makes
// it fail (usually EFAULT) while the process survives. It is hostile to the
// kernel but harmless to the process, so it also runs on Linux.
//
// Each pointer-taking call gets every kind of bad pointer that applies:
//
//	null                NULL
//	null+16, null+2048  small offsets from NULL, still in page 0
//	unmapped            a page mapped and then unmapped
//	prot-none           a PROT_NONE page
//	read-only           a PROT_READ page (calls that write through the pointer)
//	straddle            the last 2 bytes of a writable page followed by a
//	                    PROT_NONE page, so the access starts well and faults
//	0x800000000000      the first address past a 47-bit user half (amd64;
//	                    on arm64 Linux's 48-bit user half merely unmapped)
//	0xffff000000000000  the kernel half of a 48-bit address space
//
// with the expected errno per call and kind defined in calls.go (one check
// per call). Further checks try zero lengths with NULL (zero-length),
// arguments Linux validates before touching memory (checked-first), lengths
// that wrap around the address space (wrapping-lengths) and bad ranges for
// munmap, mprotect, madvise, mincore, msync and mmap, which answer EINVAL
// or ENOMEM rather than EFAULT (mm-ranges). The last check (survived) makes
// sure the process still works. The system call numbers are those of the
// architecture it is built for (syscall.SYS_*).
//
// The expectations are Linux's. Where qemu-user (qemu-aarch64-static 7.2,
// which emulates Linux system calls rather than being Linux) departs from
// them, a case lists qemu's answer too; it is accepted only when the program
// finds itself emulated by qemu-user on an x86 host (see detectQEMU).
//
// Usage:
//
//	badptr [-run REGEXP] [-v] [-list] [-timeout D]
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"armos/microkernel/guesttest/progs/check"
)

// childEnv makes the program a child that exits at once; wait4 checks
// need a zombie to wait for.
const childEnv = "ARMOS_BADPTR_CHILD"

// A kind is one kind of bad pointer.
type kind struct {
	name string
	// addr returns the pointer; a new unmapped page each time for
	// "unmapped", so nothing else has mapped it since.
	addr func() uintptr
	// outOnly kinds are bad only for calls that write through them.
	outOnly bool
}

// mem is the memory the bad pointers point into, mapped once.
var mem struct {
	rw, none, ro uintptr // a read-write, a PROT_NONE and a read-only page, adjacent
	page         uintptr // the page size
	rwBytes      []byte  // the read-write page
}

// kinds lists the bad pointers in the order they are tried.
var kinds = []kind{
	{name: "null", addr: func() uintptr { return 0 }},
	{name: "null+16", addr: func() uintptr { return 16 }},
	{name: "null+2048", addr: func() uintptr { return 2048 }},
	{name: "unmapped", addr: unmappedPage},
	{name: "prot-none", addr: func() uintptr { return mem.none }},
	{name: "read-only", addr: func() uintptr { return mem.ro }, outOnly: true},
	{name: "straddle", addr: straddle},
	{name: "0x800000000000", addr: func() uintptr { return 1 << 47 }},
	{name: "0xffff000000000000", addr: func() uintptr { return 0xffff << 48 }},
}

// mapMemory maps three adjacent pages: read-write, PROT_NONE, read-only.
func mapMemory() error {
	ps := uintptr(syscall.Getpagesize())
	b, err := syscall.Mmap(-1, 0, int(3*ps), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	if err := syscall.Mprotect(b[ps:2*ps], syscall.PROT_NONE); err != nil {
		return fmt.Errorf("mprotect PROT_NONE: %w", err)
	}
	if err := syscall.Mprotect(b[2*ps:], syscall.PROT_READ); err != nil {
		return fmt.Errorf("mprotect PROT_READ: %w", err)
	}
	base := uintptr(unsafe.Pointer(&b[0]))
	mem.rw, mem.none, mem.ro, mem.page = base, base+ps, base+2*ps, ps
	mem.rwBytes = b[:ps]
	return nil
}

// straddle returns the address of the last two bytes of the read-write
// page, set to "ab" (a call may have written there since) so that a path
// or string starting there runs into the PROT_NONE page.
func straddle() uintptr {
	n := len(mem.rwBytes)
	mem.rwBytes[n-2], mem.rwBytes[n-1] = 'a', 'b'
	return mem.rw + mem.page - 2
}

// unmappedPage maps a page, unmaps it and returns its address.
func unmappedPage() uintptr {
	b, err := syscall.Mmap(-1, 0, syscall.Getpagesize(), syscall.PROT_READ, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(fmt.Sprintf("mmap: %v", err))
	}
	addr := uintptr(unsafe.Pointer(&b[0]))
	if err := syscall.Munmap(b); err != nil {
		panic(fmt.Sprintf("munmap: %v", err))
	}
	return addr
}

// sys makes a raw system call and returns its errno (0 on success).
func sys(nr uintptr, a ...uintptr) syscall.Errno {
	var args [6]uintptr
	copy(args[:], a)
	_, _, errno := syscall.RawSyscall6(nr, args[0], args[1], args[2], args[3], args[4], args[5])
	return errno
}

// errnoName names an errno the way the kernel headers do, or "success".
func errnoName(e syscall.Errno) string {
	if e == 0 {
		return "success"
	}
	if name, ok := errnoNames[e]; ok {
		return name
	}
	return fmt.Sprintf("errno %d", uintptr(e))
}

var errnoNames = map[syscall.Errno]string{
	syscall.EFAULT: "EFAULT", syscall.EINVAL: "EINVAL", syscall.ENOMEM: "ENOMEM",
	syscall.EBADF: "EBADF", syscall.ENOSYS: "ENOSYS", syscall.EAGAIN: "EAGAIN",
	syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ECHILD: "ECHILD", syscall.EPERM: "EPERM",
	syscall.ENOENT: "ENOENT", syscall.EINTR: "EINTR", syscall.ENOTTY: "ENOTTY",
	syscall.EACCES: "EACCES", syscall.ESRCH: "ESRCH", syscall.E2BIG: "E2BIG",
}

// ptrCheck runs c once per applicable kind of bad pointer and compares the
// errno with the expectation.
func ptrCheck(c ptrCase) func(*check.T) {
	return func(t *check.T) {
		type result struct {
			kind      string
			p         uintptr
			got, want syscall.Errno
		}
		var results []result
		for _, k := range kinds {
			if (k.outOnly && !c.out) || contains(c.skip, k.name) {
				continue
			}
			want, ok := c.want[k.name]
			if !ok {
				want = syscall.EFAULT
			}
			if q, ok := c.qemu[k.name]; ok && underQEMU {
				want = q
			}
			p := k.addr()
			results = append(results, result{k.name, p, c.call(t, p), want})
		}
		provided := false
		for _, r := range results {
			provided = provided || r.got != syscall.ENOSYS
		}
		if !provided && notProvided(c.name, syscall.ENOSYS) {
			return
		}
		for _, r := range results {
			t.Logf("%-18s %#x: %s", r.kind, r.p, errnoName(r.got))
			if r.got != r.want {
				t.Errorf("%s (%#x): %s, want %s", r.kind, r.p, errnoName(r.got), errnoName(r.want))
			}
		}
	}
}

// valueCheck runs a list of calls that take no bad-pointer kinds, each with
// its own expectation.
func valueCheck(cases []valueCase) func(*check.T) {
	return func(t *check.T) {
		for _, c := range cases {
			got := c.call(t)
			if notProvided(c.name, got) {
				continue
			}
			t.Logf("%-40s %s", c.name, errnoName(got))
			want := c.want
			if c.qemu != nil && underQEMU {
				want = *c.qemu
			}
			if got != want {
				t.Errorf("%s: %s, want %s", c.name, errnoName(got), errnoName(want))
			}
		}
	}
}

// notProvided reports whether got says the kernel does not implement a
// call at all (ENOSYS for every argument), and says so: the point of this
// program is how implemented calls treat bad pointers. Linux implements
// every call used here.
func notProvided(name string, got syscall.Errno) bool {
	if got != syscall.ENOSYS {
		return false
	}
	fmt.Printf("badptr: %s: not provided by this kernel (ENOSYS), skipped\n", name)
	return true
}

// underQEMU is set when the program runs under qemu-user.
var underQEMU bool

// detectQEMU reports whether this arm64 program runs under qemu-user on an
// x86 host, whose /proc/cpuinfo qemu passes through: it has x86's
// "vendor_id" lines, which no arm64 kernel prints. armos has no /proc.
func detectQEMU() bool {
	if runtime.GOARCH != "arm64" {
		return false
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	return err == nil && bytes.Contains(info, []byte("\nvendor_id"))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	if _, ok := os.LookupEnv(childEnv); ok {
		return // a child for wait4: exit 0 at once
	}
	if underQEMU = detectQEMU(); underQEMU {
		fmt.Println("badptr: emulated by qemu-user: accepting its known departures from Linux")
	}
	if err := mapMemory(); err != nil {
		fmt.Println("badptr:", err)
		os.Exit(1)
	}
	for _, c := range ptrCases() {
		if strings.ContainsAny(c.name, " :") {
			panic("bad case name " + c.name)
		}
		check.Add(c.name, ptrCheck(c))
	}
	for _, g := range valueGroups() {
		check.Add(g.name, valueCheck(g.cases))
	}
	check.Add("survived", checkSurvived)
	check.Main()
}
