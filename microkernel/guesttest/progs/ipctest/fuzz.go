package main

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"unsafe"

	"armos/abi"
	"armos/libipc"
)

// fuzz makes count random IPC calls with random arguments: descriptors
// of its own (and invalid ones, never the Go runtime's), random sizes,
// rights, flags, deadlines and pointers (valid, nil, unmapped, kernel,
// misaligned, past the end of the user half). A second thread receives
// and answers (or drops) calls at random, so calls, replies and reply
// capabilities carried in messages happen too. The kernel must answer
// every call with a result or an errno; the process then exits holding
// whatever it holds, and the guest test checks the census: every object,
// message and page comes back.
func fuzz(count int, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var fds []int      // descriptors the fuzzer made
	var callable []int // ends whose peer the server thread answers
	buf := make([]byte, abi.MaxMessageBytes+8)
	var fdbuf [8]int32
	fdAddr := uint64(uintptr(unsafe.Pointer(&fdbuf[0])))
	results := map[string]int{}

	done := make(chan struct{})
	served := make(chan int, 1)
	shared := make(chan int, 64) // receive ends handed to the server thread
	go func() {
		runtime.LockOSThread()
		rb := make([]byte, 4096)
		var rfds [4]int32
		var mine []int
		n := 0
		for {
			select {
			case <-done:
				served <- n
				return
			case fd := <-shared:
				mine = append(mine, fd)
			default:
			}
			if len(mine) == 0 {
				runtime.Gosched()
				continue
			}
			fd := mine[n%len(mine)]
			n++
			_, nf, reply, err := libipc.KRecv(fd, rb, rfds[:], abi.DontWait)
			if err != nil {
				runtime.Gosched()
				continue
			}
			for _, h := range rfds[:nf] {
				syscall.Close(int(h))
			}
			if reply >= 0 {
				switch n % 3 {
				case 0:
					libipc.KReply(reply, rb[:n%100], nil)
				case 1:
					syscall.Close(reply)
				default:
					libipc.KReply(reply, rb[:n%200], []int32{int32(reply)}) // EINVAL: a reply through itself
					syscall.Close(reply)
				}
			}
		}
	}()

	pick := func() int {
		if len(fds) == 0 || rng.IntN(20) == 0 {
			return []int{-1, 200, 255, 256, 1 << 20}[rng.IntN(5)]
		}
		return fds[rng.IntN(len(fds))]
	}
	ptr := func(valid uintptr) uintptr {
		switch rng.IntN(24) { // a quarter of them bad
		case 0:
			return 0
		case 1:
			return 0x10
		case 2:
			return 0xffff_8000_0000_0000 + uintptr(rng.Uint64N(1<<30))
		case 3:
			return 0x7fff_ffff_fff0
		case 4:
			return valid + 1
		case 5:
			return uintptr(rng.Uint64())
		}
		return valid
	}
	deadline := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return abi.DontWait
		case 1:
			return 1
		}
		return uint64(monotonicNow() + int64(rng.IntN(2_000_000)))
	}
	msg := func() abi.Msg {
		n := []int{0, 0, 0, 0, 1, 1, 2, 4, 5}[rng.IntN(9)]
		for i := 0; i < n && i < len(fdbuf); i++ {
			fdbuf[i] = int32(pick())
			if rng.IntN(2) == 0 {
				fdbuf[i] |= abi.FdCopy
			}
		}
		size := []int{0, 1, 100, 3840, 3841, 4096, 20000, abi.MaxMessageBytes, abi.MaxMessageBytes + 1}[rng.IntN(9)]
		return abi.Msg{
			Data: uint64(ptr(uintptr(unsafe.Pointer(&buf[0])))), Len: uint32(size), Cap: uint32(rng.IntN(len(buf))),
			Fds: uint64(ptr(uintptr(unsafe.Pointer(&fdbuf[0])))), NFds: uint32(n), FdCap: uint32(rng.IntN(8)),
		}
	}
	note := func(op string, e syscall.Errno) {
		if e == 0 {
			results[op+" ok"]++
		} else {
			results[op+" "+e.Error()]++
		}
	}
	errnoOf := func(err error) syscall.Errno {
		if err == nil {
			return 0
		}
		if e, ok := err.(syscall.Errno); ok {
			return e
		}
		return syscall.EINVAL
	}
	forget := func(fd int) {
		for i, x := range fds {
			if x == fd {
				fds = append(fds[:i], fds[i+1:]...)
				return
			}
		}
	}
	for i := 0; i < count; i++ {
		switch op := rng.IntN(12); op {
		case 10:
			// Shared memory: create, map (maybe badly), touch, unmap.
			size := []int{0, 1, 4096, 3 * 4096, 2 << 20, 2<<20 + 1}[rng.IntN(6)]
			fd, err := libipc.KShmCreate(size, []int{0, syscall.O_CLOEXEC, 4}[rng.IntN(3)])
			note("shm", errnoOf(err))
			if err == nil && len(fds) < 60 {
				fds = append(fds, fd)
			} else if err == nil {
				syscall.Close(fd)
			}
		case 11:
			fd := pick()
			n := []int{4096, 8192, 3 * 4096, 1 << 20}[rng.IntN(4)]
			flags := []int{syscall.MAP_SHARED, syscall.MAP_PRIVATE, syscall.MAP_SHARED | syscall.MAP_FIXED}[rng.IntN(3)]
			prot := []int{syscall.PROT_READ | syscall.PROT_WRITE, syscall.PROT_READ, syscall.PROT_EXEC}[rng.IntN(3)]
			if flags&syscall.MAP_FIXED != 0 {
				flags = syscall.MAP_SHARED // never over the runtime's memory
			}
			mem, err := syscall.Mmap(fd, int64(rng.IntN(3))*4096, n, prot, flags)
			note("mmap", errnoOf(err))
			if err == nil {
				if prot&syscall.PROT_WRITE != 0 {
					mem[0], mem[len(mem)-1] = 1, 2
				} else {
					_ = mem[len(mem)-1]
				}
				syscall.Munmap(mem)
			}
		case 0, 1:
			if len(fds) > 60 {
				continue
			}
			// Room around the two descriptors: a pointer one byte off
			// still writes inside it. Every channel is non-blocking (a
			// blocking end nobody reads would stall the fuzzer, not the
			// kernel); the descriptors are known only when the pointer
			// was the real one.
			var out [4]int32
			pair := out[1:3]
			flags := []uintptr{0, syscall.O_CLOEXEC, 0x40, 0x41}[rng.IntN(4)] | syscall.O_NONBLOCK
			p := ptr(uintptr(unsafe.Pointer(&pair[0])))
			_, _, e := syscall.RawSyscall(abi.SysChanCreate, flags, p, uintptr(rng.IntN(3)))
			note("create", e)
			if e == 0 && p == uintptr(unsafe.Pointer(&pair[0])) {
				fds = append(fds, int(pair[0]))
				if rng.IntN(3) == 0 {
					shared <- int(pair[1]) // the answering thread's end
					callable = append(callable, int(pair[0]))
				} else {
					fds = append(fds, int(pair[1]))
				}
			}
		case 2, 3:
			m := msg()
			_, _, e := syscall.Syscall(abi.SysChanSend, uintptr(pick()), ptr(uintptr(unsafe.Pointer(&m))), uintptr(rng.IntN(2)))
			note("send", e)
			if e == 0 && m.Fds == fdAddr {
				for _, f := range fdbuf[:m.NFds] {
					if f&abi.FdCopy == 0 {
						forget(int(f))
					}
				}
			}
		case 4, 5:
			m := msg()
			_, _, e := syscall.Syscall(abi.SysChanRecv, uintptr(pick()), ptr(uintptr(unsafe.Pointer(&m))), uintptr(deadline()))
			note("recv", e)
			if e == 0 {
				if m.Fds != fdAddr {
					m.NFds = 0 // written somewhere else: not ours to track
				}
				for _, f := range fdbuf[:min(m.NFds, 4)] {
					fds = append(fds, int(f))
				}
				if m.Reply >= 0 {
					fds = append(fds, int(m.Reply))
				}
			}
		case 6:
			var c abi.Call
			c.Req, c.Rep = msg(), msg()
			c.Req.NFds = 0
			fd, dl := pick(), deadline()
			if len(callable) > 0 && rng.IntN(2) == 0 {
				fd = callable[rng.IntN(len(callable))]
				c.Req.Data, c.Req.Len = uint64(uintptr(unsafe.Pointer(&buf[0]))), 16
				c.Rep.Data, c.Rep.Cap = uint64(uintptr(unsafe.Pointer(&buf[0]))), 4096
				// The answering thread shares the CPU with this one and
				// with the other guests' processes: a deadline of a few
				// milliseconds could pass before it polls even once (no
				// call answered in a whole run under CI's load), so a
				// call it should answer waits up to 100 ms.
				dl = uint64(monotonicNow() + 100_000_000)
			}
			_, _, e := syscall.Syscall(abi.SysChanCall, uintptr(fd), ptr(uintptr(unsafe.Pointer(&c))), uintptr(dl))
			note("call", e)
			if e == 0 && c.Rep.Fds == fdAddr {
				for _, f := range fdbuf[:min(c.Rep.NFds, 4)] {
					fds = append(fds, int(f))
				}
			}
		case 7:
			m := msg()
			fd := pick()
			_, _, e := syscall.RawSyscall(abi.SysReply, uintptr(fd), ptr(uintptr(unsafe.Pointer(&m))), 0)
			note("reply", e)
		case 8:
			fd := pick()
			r, _, e := syscall.RawSyscall(abi.SysHandleDup, uintptr(fd), uintptr(rng.IntN(32)), uintptr([]int{0, syscall.O_CLOEXEC, 1}[rng.IntN(3)]))
			note("dup", e)
			if e == 0 {
				fds = append(fds, int(r))
			}
			var info abi.HandleInfo
			_, _, e = syscall.RawSyscall(abi.SysHandleInfo, uintptr(pick()), ptr(uintptr(unsafe.Pointer(&info))), 0)
			note("info", e)
		case 9:
			if len(fds) > 0 && rng.IntN(2) == 0 {
				fd := pick()
				if fd >= 3 && fd < 1024 {
					if syscall.Close(fd) == nil {
						forget(fd)
					}
				}
			}
		}
	}
	close(done)
	n := <-served
	fmt.Printf("ipcfuzz: %d calls, seed %d, %d descriptors held at exit, server polled %d times\n", count, seed, len(fds), n)
	for k, v := range results {
		fmt.Printf("ipcfuzz: %s %d\n", k, v)
	}
	fmt.Println("ipcfuzz: done")
	return 0
}

// monotonicNow is CLOCK_MONOTONIC in nanoseconds, the clock of the IPC
// system calls' deadlines.
func monotonicNow() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}
