//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"armos/microkernel/guesttest/linuxref"
)

// linkWait bounds how long eth0 may take to appear after virtio_net loads.
const linkWait = 10 * time.Second

// loadModules loads each module listed (one initramfs path a line) in
// list with finit_module, in order. EEXIST (already loaded or built in) is
// not an error.
func loadModules(list string) error {
	b, err := os.ReadFile(list)
	if err != nil {
		return err
	}
	for _, p := range strings.Fields(string(b)) {
		start := time.Now()
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		empty := []byte{0}
		_, _, e := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafe.Pointer(&empty[0])), 0)
		f.Close()
		if e != 0 && e != syscall.EEXIST {
			return fmt.Errorf("finit_module %s: %w", p, e)
		}
		say("linuxref: module %s loaded in %.1f ms", strings.TrimSuffix(path.Base(p), ".ko"),
			float64(time.Since(start).Microseconds())/1000)
	}
	return nil
}

// ifreq is struct ifreq of <net/if.h> on arm64: 16 name bytes, then a
// 24-byte union (a sockaddr, or the short flags).
type ifreq [40]byte

func newIfreq(name string) *ifreq {
	var r ifreq
	copy(r[:15], name)
	return &r
}

func (r *ifreq) setAddr(a netip.Addr) {
	*(*uint16)(unsafe.Pointer(&r[16])) = syscall.AF_INET
	r[18], r[19] = 0, 0
	a4 := a.As4()
	copy(r[20:24], a4[:])
}

func (r *ifreq) flags() uint16     { return *(*uint16)(unsafe.Pointer(&r[16])) }
func (r *ifreq) setFlags(f uint16) { *(*uint16)(unsafe.Pointer(&r[16])) = f }

func ioctl(fd int, req uintptr, r *ifreq) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(r))); e != 0 {
		return e
	}
	return nil
}

// upInterface waits for name to exist, gives it prefix's address and
// netmask and sets it up.
func upInterface(name string, prefix netip.Prefix) error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	deadline := time.Now().Add(linkWait)
	for {
		if err := ioctl(fd, syscall.SIOCGIFINDEX, newIfreq(name)); err == nil {
			break
		} else if !errors.Is(err, syscall.ENODEV) || time.Now().After(deadline) {
			return fmt.Errorf("waiting for the interface: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := newIfreq(name)
	r.setAddr(prefix.Addr())
	if err := ioctl(fd, syscall.SIOCSIFADDR, r); err != nil {
		return fmt.Errorf("SIOCSIFADDR: %w", err)
	}
	mask := netip.AddrFrom4([4]byte(net.CIDRMask(prefix.Bits(), 32)))
	r = newIfreq(name)
	r.setAddr(mask)
	if err := ioctl(fd, syscall.SIOCSIFNETMASK, r); err != nil {
		return fmt.Errorf("SIOCSIFNETMASK: %w", err)
	}
	r = newIfreq(name)
	if err := ioctl(fd, syscall.SIOCGIFFLAGS, r); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	r.setFlags(r.flags() | syscall.IFF_UP | syscall.IFF_RUNNING)
	if err := ioctl(fd, syscall.SIOCSIFFLAGS, r); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// echo serves UDP echo (RFC 862) on port 7, reporting on ready once bound.
func echo(ready chan<- error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: 7})
	ready <- err
	if err != nil {
		return
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			say("linuxref: echo read: %v", err)
			continue
		}
		if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
			say("linuxref: echo write: %v", err)
		}
	}
}

// echoProgram runs the echo program at path in the background (its
// output on the console, prefixed with its name) and reports on ready
// when it prints a line saying it is ready, or when it fails first.
func echoProgram(prog string, ready chan<- error) {
	name := path.Base(prog)
	r, w := io.Pipe()
	cmd := &exec.Cmd{Path: prog, Args: []string{prog}, Stdout: w, Stderr: &linuxref.LineWriter{W: console, Prefix: name + ": "}}
	if err := cmd.Start(); err != nil {
		ready <- err
		return
	}
	go func() {
		err := cmd.Wait()
		w.CloseWithError(fmt.Errorf("%s ended: %v", prog, err))
	}()
	sc := bufio.NewScanner(r)
	told := false
	for sc.Scan() {
		say("%s: %s", name, sc.Text())
		if !told && strings.Contains(sc.Text(), "ready") {
			ready <- nil
			told = true
		}
	}
	if !told {
		ready <- fmt.Errorf("%s: %v", prog, sc.Err())
	}
}
