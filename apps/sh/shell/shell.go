// Package shell is the serial shell's commands, apart from the terminal
// (lineedit) and the system (System), so each is tested on the host.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"armos/apps/ping/ping"
	"armos/libipc"
	"armos/libsocket/adminproto"
	"armos/libsys"
)

// System is what the commands ask of armos.
type System interface {
	Processes() ([]libsys.Process, error)
	Kill(pid int, sig syscall.Signal) error
	// Uptime, total and free memory in bytes.
	Sysinfo() (uptime time.Duration, total, free uint64, err error)
	// Pinger, for ping (nil when there is no socket service).
	Pinger() ping.Pinger
	// Sleep waits (ctx may end it early).
	Sleep(ctx context.Context, d time.Duration)
	// Admin asks a network server's operators' service (adminproto);
	// req nil is a request without arguments.
	Admin(ctx context.Context, service string, op libipc.Op, req, resp any) error
}

// Shell runs commands against a System, printing to Out.
type Shell struct {
	Sys System
	Out io.Writer
	// Self is the shell's own pid (never killed by name).
	Self int
	// RestartWait bounds restart's wait for the new process.
	RestartWait time.Duration
	// Now is the clock (ifconfig's lease time left); nil: time.Now.
	Now func() time.Time
}

// ErrPowerOff is what Run returns for poweroff once it has asked init to
// stop everything.
var ErrPowerOff = errors.New("powering off")

type command struct {
	usage string
	help  string
	run   func(s *Shell, ctx context.Context, args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"help":     {"help", "this list", (*Shell).help},
		"echo":     {"echo [WORDS...]", "print the words", (*Shell).echo},
		"ps":       {"ps", "processes: threads, memory, CPU time, state", (*Shell).ps},
		"kill":     {"kill [-SIGNAL] PID|NAME...", "send a signal (default TERM) to processes", (*Shell).kill},
		"restart":  {"restart NAME", "stop the service NAME; init starts it again at once", (*Shell).restart},
		"ping":     {"ping [-c N] [-i S] [-s BYTES] [-W S] ADDRESS", "ICMP echo through netd (default -c 4)", (*Shell).ping},
		"uptime":   {"uptime", "time since boot and processes", (*Shell).uptime},
		"free":     {"free", "memory in use and free", (*Shell).free},
		"poweroff": {"poweroff", "stop every service (init) and power off", (*Shell).poweroff},
		"ifconfig": {"ifconfig", "netd's interface: address, MAC, MTU, link, traffic", (*Shell).ifconfig},
		"arp":      {"arp [flush]", "netd's neighbour cache (flush: empty it)", (*Shell).arp},
		"netstat":  {"netstat", "every counter of netd (sockets too) and of its NIC driver", (*Shell).netstat},
		"pcap": {"pcap start [-s SNAPLEN] [-w PORT] [FILTER...] | pcap stop | pcap",
			"capture netd's frames (FILTER: arp icmp udp ip, host ADDR, port N) as pcap to a console port (default hvc0)", (*Shell).pcap},
	}
}

// usageError is a mistyped command: its one-line usage.
type usageError struct{ usage string }

func (u usageError) Error() string { return "usage: " + u.usage }

// Run runs one command line; what it prints goes to Out. A mistyped
// command gets one line of usage, never a crash.
func (s *Shell) Run(ctx context.Context, line string) error {
	args := strings.Fields(line)
	if len(args) == 0 {
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(s.Out, "sh: %s: unknown command (help lists them)\n", args[0])
		return nil
	}
	err := c.run(s, ctx, args[1:])
	var u usageError
	switch {
	case err == nil, errors.Is(err, ErrPowerOff):
		return err
	case errors.As(err, &u):
		fmt.Fprintf(s.Out, "%s: usage: %s\n", args[0], c.usage)
	default:
		fmt.Fprintf(s.Out, "%s: %v\n", args[0], err)
	}
	return nil
}

func (s *Shell) help(_ context.Context, args []string) error {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(s.Out, "  %-44s %s\n", commands[n].usage, commands[n].help)
	}
	return nil
}

func (s *Shell) echo(_ context.Context, args []string) error {
	fmt.Fprintln(s.Out, strings.Join(args, " "))
	return nil
}

func (s *Shell) ps(_ context.Context, args []string) error {
	if len(args) != 0 {
		return usageError{}
	}
	ps, err := s.Sys.Processes()
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "%6s %6s %-8s %4s %9s %4s %4s %10s  %s\n", "PID", "PPID", "STATE", "THR", "MEM(KiB)", "FDS", "MSGQ", "CPU(ms)", "NAME")
	for _, p := range ps {
		fmt.Fprintf(s.Out, "%6d %6d %-8s %4d %9d %4d %4d %10.1f  %s\n", p.Pid, p.PPid, p.State, p.Threads, p.MemoryKiB, p.Handles,
			p.Queued, float64(p.CPU.Microseconds())/1000, p.Name)
	}
	return nil
}

// signals are the names kill takes.
var signals = map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL,
	"TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT,
	"QUIT": syscall.SIGQUIT}

// parseSignal reads -9, -KILL or -SIGKILL.
func parseSignal(s string) (syscall.Signal, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "SIG")
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), true
	}
	sig, ok := signals[strings.ToUpper(s)]
	return sig, ok
}

// targets resolves PID|NAME words to pids (never the kernel, init or the
// shell itself by name).
func (s *Shell) targets(words []string) ([]int, error) {
	var ps []libsys.Process
	var pids []int
	for _, w := range words {
		if pid, err := strconv.Atoi(w); err == nil && pid > 0 {
			pids = append(pids, pid)
			continue
		}
		if ps == nil {
			var err error
			if ps, err = s.Sys.Processes(); err != nil {
				return nil, err
			}
		}
		found := false
		for _, p := range ps {
			if p.Name == w && p.State == "running" && p.Pid != s.Self && p.PPid != 0 {
				pids = append(pids, p.Pid)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no process named %q", w)
		}
	}
	return pids, nil
}

func (s *Shell) kill(_ context.Context, args []string) error {
	sig := syscall.SIGTERM
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		var ok bool
		if sig, ok = parseSignal(args[0]); !ok {
			return usageError{}
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return usageError{}
	}
	pids, err := s.targets(args)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := s.Sys.Kill(pid, sig); err != nil {
			return fmt.Errorf("(%d): %w", pid, err)
		}
	}
	return nil
}

func (s *Shell) restart(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return usageError{}
	}
	if _, err := strconv.Atoi(args[0]); err == nil {
		return usageError{}
	}
	pids, err := s.targets(args)
	if err != nil {
		return err
	}
	old := map[int]bool{}
	for _, pid := range pids {
		old[pid] = true
		if err := s.Sys.Kill(pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("(%d): %w", pid, err)
		}
	}
	start := time.Now()
	wait := s.RestartWait
	if wait == 0 {
		wait = 30 * time.Second
	}
	for time.Since(start) < wait && ctx.Err() == nil {
		s.Sys.Sleep(ctx, 10*time.Millisecond)
		ps, err := s.Sys.Processes()
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Name == args[0] && p.State == "running" && !old[p.Pid] {
				fmt.Fprintf(s.Out, "restart: %s: pid %d -> %d in %.1f ms\n", args[0], pids[0], p.Pid,
					float64(time.Since(start).Microseconds())/1000)
				return nil
			}
		}
	}
	return fmt.Errorf("%s was stopped but no new %s is running (is it an init service?)", args[0], args[0])
}

func (s *Shell) ping(ctx context.Context, args []string) error {
	p := s.Sys.Pinger()
	if p == nil {
		return errors.New("no socket service (is netd running?)")
	}
	if !hasFlag(args, "-c") {
		args = append([]string{"-c", "4"}, args...)
	}
	cfg, err := ping.ParseArgs(args, "")
	if err != nil {
		return usageError{}
	}
	ping.Run(ctx, cfg, p, s.Out, s.Sys.Sleep)
	return nil
}

func hasFlag(args []string, f string) bool {
	for _, a := range args {
		if a == f {
			return true
		}
	}
	return false
}

func (s *Shell) uptime(_ context.Context, args []string) error {
	up, _, _, err := s.Sys.Sysinfo()
	if err != nil {
		return err
	}
	ps, err := s.Sys.Processes()
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "up %v, %d processes\n", up.Round(time.Second), len(ps))
	return nil
}

func (s *Shell) free(_ context.Context, args []string) error {
	_, total, free, err := s.Sys.Sysinfo()
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "%10s %10s %10s\n", "total KiB", "used KiB", "free KiB")
	fmt.Fprintf(s.Out, "%10d %10d %10d\n", total>>10, (total-free)>>10, free>>10)
	return nil
}

func (s *Shell) poweroff(_ context.Context, args []string) error {
	ps, err := s.Sys.Processes()
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Name == "init" {
			if p.Pid == s.Self {
				continue
			}
			fmt.Fprintln(s.Out, "poweroff: init stops every service; the kernel powers off after it")
			if err := s.Sys.Kill(p.Pid, syscall.SIGTERM); err != nil {
				return err
			}
			return ErrPowerOff
		}
	}
	return errors.New("no init to stop")
}

func (s *Shell) ifconfig(ctx context.Context, args []string) error {
	if len(args) != 0 {
		return usageError{}
	}
	var i adminproto.Interface
	if err := s.Sys.Admin(ctx, adminproto.NetdService, adminproto.OpInterface, nil, &i); err != nil {
		return err
	}
	gw := ""
	if i.Gateway != "" {
		gw = "  gateway " + i.Gateway
	}
	addr := i.Addr
	if addr == "" {
		addr = "none"
	}
	fmt.Fprintf(s.Out, "eth0: %s\n    inet %s%s  mtu %d\n", i.Link, addr, gw, i.MTU)
	if l := i.Lease; l != nil {
		left := "infinite"
		if l.Expiry != 0 {
			now := time.Now
			if s.Now != nil {
				now = s.Now
			}
			left = max(time.Unix(l.Expiry, 0).Sub(now()), 0).Round(time.Second).String() + " left"
		}
		dns := ""
		if len(l.DNS) > 0 {
			dns = "  dns " + strings.Join(l.DNS, ",")
		}
		fmt.Fprintf(s.Out, "    dhcp server %s  lease %v (%s)%s\n", l.Server, time.Duration(l.Seconds)*time.Second, left, dns)
	}
	fmt.Fprintf(s.Out, "    ether %s\n    RX %d frames %d bytes  TX %d frames %d bytes\n",
		i.MAC, i.RxFrames, i.RxBytes, i.TxFrames, i.TxBytes)
	return nil
}

func (s *Shell) arp(ctx context.Context, args []string) error {
	op := adminproto.OpARP
	switch {
	case len(args) == 1 && args[0] == "flush":
		op = adminproto.OpARPFlush
	case len(args) != 0:
		return usageError{}
	}
	var t adminproto.ARPTable
	if err := s.Sys.Admin(ctx, adminproto.NetdService, op, nil, &t); err != nil {
		return err
	}
	if op == adminproto.OpARPFlush {
		fmt.Fprintf(s.Out, "flushed %d entries\n", len(t.Entries))
		return nil
	}
	for _, e := range t.Entries {
		fmt.Fprintln(s.Out, e)
	}
	if len(t.Entries) == 0 {
		fmt.Fprintln(s.Out, "(no entries)")
	}
	return nil
}

func (s *Shell) netstat(ctx context.Context, args []string) error {
	if len(args) != 0 {
		return usageError{}
	}
	var r adminproto.Report
	if err := s.Sys.Admin(ctx, adminproto.NetdService, adminproto.OpReport, nil, &r); err != nil {
		return err
	}
	fmt.Fprintln(s.Out, "netd:")
	fmt.Fprint(s.Out, r.Text)
	var i adminproto.Interface
	if err := s.Sys.Admin(ctx, adminproto.NetdService, adminproto.OpInterface, nil, &i); err != nil {
		return err
	}
	if name, ok := strings.CutPrefix(i.Link, "nic:"); ok {
		name, _, _ = strings.Cut(name, " ")
		var d adminproto.Report
		if err := s.Sys.Admin(ctx, name+adminproto.DriverSuffix, adminproto.OpReport, nil, &d); err != nil {
			return fmt.Errorf("driver %s: %w", name, err)
		}
		fmt.Fprintf(s.Out, "%s (driver):\n%s", name, d.Text)
	}
	return nil
}

// pcap starts, stops or shows netd's packet capture (adminproto's capture
// operations): the frames go as a pcap stream to a console port, which
// ./build.sh run writes to a file on the host.
func (s *Shell) pcap(ctx context.Context, args []string) error {
	var st adminproto.CaptureStatus
	switch {
	case len(args) == 0:
		if err := s.Sys.Admin(ctx, adminproto.NetdService, adminproto.OpCaptureStatus, nil, &st); err != nil {
			return err
		}
		if st.Port == "" {
			fmt.Fprintln(s.Out, "pcap: no capture has run")
			return nil
		}
		s.captureLine(&st)
		return nil
	case args[0] == "stop" && len(args) == 1:
		if err := s.Sys.Admin(ctx, adminproto.NetdService, adminproto.OpCaptureStop, nil, &st); err != nil {
			return err
		}
		s.captureLine(&st)
		return nil
	case args[0] != "start":
		return usageError{}
	}
	req := adminproto.CaptureStart{}
	words := args[1:]
	for len(words) > 0 && strings.HasPrefix(words[0], "-") {
		if len(words) < 2 {
			return usageError{}
		}
		switch words[0] {
		case "-s":
			n, err := strconv.Atoi(words[1])
			if err != nil || n <= 0 {
				return usageError{}
			}
			req.SnapLen = n
		case "-w":
			req.Port = words[1]
		default:
			return usageError{}
		}
		words = words[2:]
	}
	req.Filter = strings.Join(words, " ")
	if err := s.Sys.Admin(ctx, adminproto.NetdService, adminproto.OpCaptureStart, &req, &st); err != nil {
		return err
	}
	what := "every frame"
	if st.Filter != "" {
		what = "frames matching '" + st.Filter + "'"
	}
	how := "a new pcap stream"
	if st.Appended {
		how = "appending to its pcap stream"
	}
	fmt.Fprintf(s.Out, "pcap: capturing %s (snap %d) to %s, %s; pcap stop ends it\n", what, st.SnapLen, st.Port, how)
	return nil
}

// captureLine prints a capture's figures.
func (s *Shell) captureLine(st *adminproto.CaptureStatus) {
	state := "stopped"
	if st.Running {
		state = "running"
	}
	fmt.Fprintf(s.Out, "pcap: %s: %d frames captured, %d dropped (ring full), %d filtered out; %d written to %s (%d bytes)\n",
		state, st.Captured, st.Dropped, st.Filtered, st.Written, st.Port, st.Bytes)
	if st.Error != "" {
		fmt.Fprintf(s.Out, "pcap: writing stopped: %s\n", st.Error)
	}
}
