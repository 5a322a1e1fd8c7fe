// Package progs holds the user-space test programs that armos is judged by.
//
// Each subdirectory except check is a static Linux program (package main)
// that runs unchanged on Linux and on armos:
//
//   - gort: the Go runtime on the OS (threads, timers, GC, faults, signals,
//     epoll, clocks, mmap).
//   - exitcode: exits with a chosen status, panics or faults.
//   - spawn: child processes with os/exec, re-executing itself.
//   - pingpong: pipe ping-pong between two processes and futex ping-pong
//     between two threads (also a benchmark).
//   - badptr: bad pointers and wrapping lengths passed to system calls.
//   - regs: every general register (x0-x30, x18 included) across preemption.
//   - runlist: runs a list of test binaries (Go's standard library tests)
//     one after another and summarizes them (TestGoStdTests).
//   - sysbench: the process benchmarks, the same binary on armos and Linux
//     (BenchmarkProcesses).
//   - memhog, threadbomb, sysfuzz: hostile programs that only run in armos.
//
// The check programs (gort, spawn, pingpong, badptr) print one line per
// check, "ok NAME" or "FAIL NAME: REASON", then "N passed, N failed", and
// exit 1 if any check failed. Package check implements that protocol and
// their common flags: -run REGEXP, -v, -list, -timeout D.
//
// Everything but sysfuzz, memhog and threadbomb can be checked on a Linux
// host, natively and as arm64 binaries under qemu-user:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -o /tmp/gort ./microkernel/guesttest/progs/gort
//	qemu-aarch64-static /tmp/gort
//
// spawn, pingpong and badptr start copies of themselves, so under qemu-user
// the host must run arm64 executables through binfmt_misc (as root, with
// Debian's qemu-user-static: mount -t binfmt_misc binfmt_misc
// /proc/sys/fs/binfmt_misc, then write /usr/lib/binfmt.d/qemu-aarch64.conf
// to /proc/sys/fs/binfmt_misc/register). memhog and threadbomb may run on a
// host only with a small -max. sysfuzz must never run outside armos: under
// qemu-user its random calls reach the host kernel.
package progs
