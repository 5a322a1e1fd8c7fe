//go:build linux

// Command init is /init of the Linux reference guest's initramfs: a static
// Go program, no shell or busybox. It mounts /proc and /dev, prints the
// ready line (kernel uptime and memory in use) on the console, and then,
// as the kernel command line asks (see linuxref.ParseCmdline): loads the
// virtio-net modules listed in /etc/linuxref/modules, brings up eth0,
// serves UDP echo on port 7, runs programs from the initramfs one after
// another (run.go), and powers the machine off.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"armos/microkernel/guesttest/linuxref"
)

// console is where every line goes: /dev/console (the PL011 with
// console=ttyAMA0).
var console = os.Stdout

func say(format string, args ...any) {
	fmt.Fprintf(console, format+"\n", args...)
}

// fail reports err and stops: power off if asked, else sleep forever (PID 1
// must not exit, or the kernel panics).
func fail(opts linuxref.Options, format string, args ...any) {
	say(linuxref.FailMarker+" "+format, args...)
	if opts.PowerOff {
		powerOff()
	}
	select {}
}

func main() {
	cnt, freq := counter()
	up := uptime()
	mountAll()
	mem, memErr := meminfo()
	cmdline, err := os.ReadFile("/proc/cmdline")
	opts, optErr := linuxref.ParseCmdline(string(cmdline))
	if err != nil {
		optErr = err
	}
	if memErr != nil {
		fail(opts, "meminfo: %v", memErr)
	}
	mem.UptimeMS = float64(up.Microseconds()) / 1000
	if freq != 0 {
		mem.CounterMS = float64(cnt) / float64(freq) * 1000
	}
	say("%s", mem)
	if optErr != nil {
		fail(opts, "command line: %v", optErr)
	}
	if opts.Net.IsValid() {
		if err := loadModules(linuxref.GuestModuleList); err != nil {
			fail(opts, "%v", err)
		}
		start := time.Now()
		if err := upInterface("eth0", opts.Net); err != nil {
			fail(opts, "eth0: %v", err)
		}
		say("linuxref: eth0 up as %s in %.1f ms", opts.Net, float64(time.Since(start).Microseconds())/1000)
		ready := make(chan error, 1)
		if opts.Echo != "" {
			go echoProgram(opts.Echo, ready)
		} else {
			go echo(ready)
		}
		if err := <-ready; err != nil {
			fail(opts, "echo: %v", err)
		}
		say("%s on %s:7 in %.1f ms", linuxref.EchoReadyMarker, opts.Net.Addr(),
			float64(uptime().Microseconds())/1000)
	}
	for _, args := range opts.Run {
		run(opts, args)
	}
	if opts.PowerOff {
		powerOff()
	}
	select {}
}

// mountAll mounts proc and devtmpfs, then reopens the console from devtmpfs
// (the initramfs' own /dev/console node gets the kernel going before that).
func mountAll() {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"}, {"devtmpfs", "/dev", "devtmpfs"}, {"sysfs", "/sys", "sysfs"},
	} {
		_ = os.MkdirAll(m.dst, 0o755)
		if err := syscall.Mount(m.src, m.dst, m.typ, 0, ""); err != nil {
			say("linuxref: mount %s: %v", m.dst, err)
		}
	}
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		console = f
	}
}

// uptime is CLOCK_BOOTTIME: time since the kernel started its clock.
func uptime() time.Duration {
	const clockBoottime = 7
	var ts syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockBoottime,
		uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

// meminfo reads MemTotal and MemFree from /proc/meminfo.
func meminfo() (linuxref.Ready, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return linuxref.Ready{}, err
	}
	kib := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			if v, err := strconv.Atoi(f[1]); err == nil {
				kib[strings.TrimSuffix(f[0], ":")] = v
			}
		}
	}
	total, ok1 := kib["MemTotal"]
	free, ok2 := kib["MemFree"]
	if !ok1 || !ok2 {
		return linuxref.Ready{}, fmt.Errorf("no MemTotal/MemFree in /proc/meminfo")
	}
	return linuxref.Ready{InUseKiB: total - free, TotalKiB: total}, nil
}

func powerOff() {
	say("%s", linuxref.PowerOffLine)
	syscall.Sync()
	_ = syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
