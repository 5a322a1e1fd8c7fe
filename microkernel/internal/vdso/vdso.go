// Package vdso produces the virtual dynamic shared object armos gives every
// user process, so that clock_gettime (which the Go runtime calls for every
// time.Now and nanotime) reads the generic timer at EL0 instead of trapping.
//
// The image (Image, built by Build and committed as vdso.so) is an ELF64
// AArch64 shared object exporting, each with symbol version LINUX_2.6.39 as
// on Linux arm64:
//
//	int __kernel_clock_gettime(clockid_t, struct timespec *)
//	int __kernel_gettimeofday(struct timeval *, struct timezone *)
//	int __kernel_clock_getres(clockid_t, struct timespec *)
//
// The clocks in ClockMask (REALTIME, MONOTONIC, MONOTONIC_RAW,
// REALTIME_COARSE, MONOTONIC_COARSE, BOOTTIME) are computed from CNTVCT_EL0
// and the data page; every other clock id, a time zone request and any clock
// a zeroed data page leaves out make the real system call (SVC #0, x8 = 113,
// 169 or 114) with the caller's arguments, so the result, including -EINVAL,
// is the kernel's. Like Linux's vDSO, a bad pointer faults instead of
// returning -EFAULT. __kernel_getrandom is left out: the Go runtime would use
// it only with the kernel's vgetrandom state pages and a ChaCha20
// implementation in the image; without the symbol it uses the getrandom
// system call. __kernel_rt_sigreturn is left out too: Go installs its own
// signal restorer, and a libc that wanted it would also want unwind tables.
//
// # Mapping
//
// For a process, the kernel picks a page-aligned user address V and maps
//
//	V - PageSize   the data page (vvar): EL0 read-only, never executable, filled
//	               once with Fill (later changes with Publish); one physical page
//	               can be shared by all processes
//	V ...          Image, copied into page frames (len(Image) <= PageSize): EL0
//	               read + execute, not writable; shareable as well
//
// and passes AT_SYSINFO_EHDR = V in the auxiliary vector. The code finds the
// data page PC-relatively (ADR), so V is free. After copying the image into
// its frame the kernel must make it visible to instruction fetch (clean the
// D-cache to PoU and invalidate the I-cache: rt.SyncICache) before the
// process runs.
//
// EL0 may read the counter only when CNTKCTL_EL1.EL0VCTEN (bit 1) is set
// (the code reads CNTVCT_EL0 only; EL0PCTEN, bit 0, is not needed; at EL2
// with HCR_EL2.E2H=1 the same bit is in CNTHCTL_EL2). If the kernel cannot
// allow that, it leaves ClockMask 0 (or the page all zero): the code then
// never reads the counter and every call is a system call.
//
// # Arithmetic
//
// Clock n reads Base[n] + ConvertNS(CNTVCT_EL0 - CycleBase, Mult, Shift) ns,
// with a 128-bit product; VVar.ClockNS is the same computation in Go, for
// the kernel's own clock_gettime, so both agree to the nanosecond. With
// QEMU virt's 62.5 MHz counter Mult is 16 and Shift 0: exact.
package vdso

import _ "embed"

//go:generate go run gen.go

// Image is the vDSO, as Build makes it: an ELF64 little-endian AArch64 ET_DYN
// object of at most one page, to be copied into the page mapped at
// AT_SYSINFO_EHDR. It is prebuilt (go generate, above) so that the kernel
// does no assembling; TestImageUpToDate fails when it is stale. Do not
// modify it.
//
//go:embed vdso.so
var Image []byte
