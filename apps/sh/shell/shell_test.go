package shell

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/apps/ping/ping"
	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/adminproto"
	"armos/libsys"
)

// fakeSys is a System of a few processes; killing netd makes init start
// a new one.
type fakeSys struct {
	procs  []libsysProcess
	kills  []string
	nextID int
	reqs   []any                 // requests with arguments the admin services got
	iface  *adminproto.Interface // OpInterface's answer, if set
}

type libsysProcess = libsys.Process

func (f *fakeSys) Processes() ([]libsysProcess, error) {
	return append([]libsysProcess(nil), f.procs...), nil
}
func (f *fakeSys) Kill(pid int, sig syscall.Signal) error {
	for i, p := range f.procs {
		if p.Pid == pid {
			f.kills = append(f.kills, p.Name+":"+sig.String())
			if p.Name == "netd" {
				f.procs[i].State = "zombie"
				f.nextID++
				f.procs = append(f.procs, libsysProcess{Pid: 5000 + f.nextID, PPid: 4100, Name: "netd", State: "running"})
			}
			return nil
		}
	}
	return syscall.ESRCH
}
func (f *fakeSys) Sysinfo() (time.Duration, uint64, uint64, error) {
	return 83 * time.Second, 512 << 20, 500 << 20, nil
}
func (f *fakeSys) Pinger() ping.Pinger                  { return echoer{} }
func (f *fakeSys) Sleep(context.Context, time.Duration) {}
func (f *fakeSys) Admin(_ context.Context, service string, op libipc.Op, req, resp any) error {
	if req != nil {
		f.reqs = append(f.reqs, req)
	}
	switch v := resp.(type) {
	case *adminproto.CaptureStatus:
		switch op {
		case adminproto.OpCaptureStart:
			r := req.(*adminproto.CaptureStart)
			if r.Filter == "tcp" {
				return fmt.Errorf("capture: filter %q: unknown word", r.Filter)
			}
			*v = adminproto.CaptureStatus{Running: true, Filter: r.Filter, SnapLen: 1518, Port: "hvc0", Appended: true}
		case adminproto.OpCaptureStop:
			*v = adminproto.CaptureStatus{Filter: "udp port 7", SnapLen: 1518, Port: "hvc0", Captured: 6, Dropped: 1, Filtered: 40, Written: 6, Bytes: 700}
		case adminproto.OpCaptureStatus:
			*v = adminproto.CaptureStatus{Running: true, Filter: "udp port 7", SnapLen: 1518, Port: "hvc0", Captured: 2}
		}
	case *adminproto.Interface:
		if f.iface != nil {
			*v = *f.iface
			break
		}
		*v = adminproto.Interface{Link: "nic:net0 (virtio-net, virtio-mmio v1, link up)", Addr: "10.0.2.15/24", Gateway: "10.0.2.2",
			MAC: "52:54:00:12:34:56", MTU: 1500, RxFrames: 7, RxBytes: 700, TxFrames: 5, TxBytes: 500}
	case *adminproto.ARPTable:
		v.Entries = []string{"10.0.2.2 at 52:55:0a:00:02:02 reachable 42s"}
		f.kills = append(f.kills, fmt.Sprintf("arp op %d", op))
	case *adminproto.Report:
		v.Text = service + " counters\n"
	}
	return nil
}

type echoer struct{}

func (echoer) Ping(_ context.Context, dst netip.Addr, seq uint16, size int, _ time.Duration) (libsocket.PingResult, error) {
	return libsocket.PingResult{From: dst, Seq: seq, RTT: time.Millisecond, Len: size, TTL: 64}, nil
}

func newShell() (*Shell, *fakeSys, *bytes.Buffer) {
	f := &fakeSys{procs: []libsysProcess{
		{Pid: 1, Name: "kernel", State: "running"},
		{Pid: 4100, PPid: 1, Name: "init", State: "running", Threads: 4, MemoryKiB: 1200},
		{Pid: 4101, PPid: 4100, Name: "netd", State: "running", Threads: 6, MemoryKiB: 2400, Handles: 17, Queued: 3, CPU: 35 * time.Millisecond},
		{Pid: 4102, PPid: 4100, Name: "sh", State: "running"},
	}}
	var out bytes.Buffer
	return &Shell{Sys: f, Out: &out, Self: 4102, RestartWait: time.Second}, f, &out
}

func run(t *testing.T, s *Shell, line string) {
	t.Helper()
	require.NoError(t, s.Run(context.Background(), line))
}

func TestCommands(t *testing.T) {
	s, f, out := newShell()
	run(t, s, "echo hello   armos")
	assert.Equal(t, "hello armos\n", out.String())

	out.Reset()
	run(t, s, "ps")
	assert.Contains(t, out.String(), "   PID   PPID STATE     THR  MEM(KiB)  FDS MSGQ    CPU(ms)  NAME\n")
	assert.Contains(t, out.String(), "  4101   4100 running     6      2400   17    3       35.0  netd\n")

	out.Reset()
	run(t, s, "uptime")
	assert.Equal(t, "up 1m23s, 4 processes\n", out.String())
	out.Reset()
	run(t, s, "free")
	assert.Contains(t, out.String(), "    524288      12288     512000\n")

	out.Reset()
	run(t, s, "kill -9 netd")
	assert.Equal(t, []string{"netd:killed"}, f.kills)
	assert.Empty(t, out.String())

	out.Reset()
	run(t, s, "restart netd")
	assert.Regexp(t, `^restart: netd: pid 5001 -> 5002 in [0-9.]+ ms\n$`, out.String())

	out.Reset()
	run(t, s, "ping -c 2 10.0.2.2")
	assert.Contains(t, out.String(), "2 packets transmitted, 2 received, 0% packet loss")

	out.Reset()
	run(t, s, "help")
	for _, c := range []string{"ps", "kill", "restart", "ping", "uptime", "free", "poweroff", "echo", "help"} {
		assert.Contains(t, out.String(), "  "+c)
	}
	out.Reset()
	run(t, s, "ifconfig")
	assert.Equal(t, "eth0: nic:net0 (virtio-net, virtio-mmio v1, link up)\n    inet 10.0.2.15/24  gateway 10.0.2.2  mtu 1500\n"+
		"    ether 52:54:00:12:34:56\n    RX 7 frames 700 bytes  TX 5 frames 500 bytes\n", out.String())
	out.Reset()
	run(t, s, "arp")
	assert.Equal(t, "10.0.2.2 at 52:55:0a:00:02:02 reachable 42s\n", out.String())
	out.Reset()
	run(t, s, "arp flush")
	assert.Equal(t, "flushed 1 entries\n", out.String())
	out.Reset()
	run(t, s, "netstat")
	assert.Equal(t, "netd:\nnetd.admin counters\nnet0 (driver):\nnet0.admin counters\n", out.String())
	f.kills = f.kills[:0]

	out.Reset()
	run(t, s, "pcap start -s 200 -w hvc1 udp port 7")
	assert.Equal(t, "pcap: capturing frames matching 'udp port 7' (snap 1518) to hvc0, appending to its pcap stream; pcap stop ends it\n", out.String())
	assert.Equal(t, []any{&adminproto.CaptureStart{Filter: "udp port 7", SnapLen: 200, Port: "hvc1"}}, f.reqs)
	out.Reset()
	run(t, s, "pcap")
	assert.Equal(t, "pcap: running: 2 frames captured, 0 dropped (ring full), 0 filtered out; 0 written to hvc0 (0 bytes)\n", out.String())
	out.Reset()
	run(t, s, "pcap stop")
	assert.Equal(t, "pcap: stopped: 6 frames captured, 1 dropped (ring full), 40 filtered out; 6 written to hvc0 (700 bytes)\n", out.String())
	out.Reset()
	run(t, s, "pcap start tcp")
	assert.Equal(t, "pcap: capture: filter \"tcp\": unknown word\n", out.String(), "netd's refusal, on one line")

	assert.ErrorIs(t, s.Run(context.Background(), "poweroff"), ErrPowerOff)
	assert.Equal(t, "init:terminated", f.kills[len(f.kills)-1])
}

// A mistyped command gets one line, never a crash.
func TestMistakes(t *testing.T) {
	s, f, out := newShell()
	for line, want := range map[string]string{
		"nosuch arg":        "sh: nosuch: unknown command (help lists them)\n",
		"kill":              "kill: usage: kill [-SIGNAL] PID|NAME...\n",
		"kill -BOGUS 12":    "kill: usage: kill [-SIGNAL] PID|NAME...\n",
		"kill nobody":       "kill: no process named \"nobody\"\n",
		"kill 999":          "kill: (999): no such process\n",
		"restart":           "restart: usage: restart NAME\n",
		"restart 4101":      "restart: usage: restart NAME\n",
		"ping":              "ping: usage: ping [-c N] [-i S] [-s BYTES] [-W S] ADDRESS\n",
		"ping -c x 1.2.3.4": "ping: usage: ping [-c N] [-i S] [-s BYTES] [-W S] ADDRESS\n",
		"ps extra":          "ps: usage: ps\n",
		"kill sh":           "kill: no process named \"sh\"\n",
		"kill kernel":       "kill: no process named \"kernel\"\n",
		"pcap begin":        "pcap: usage: pcap start [-s SNAPLEN] [-w PORT] [FILTER...] | pcap stop | pcap\n",
		"pcap start -s":     "pcap: usage: pcap start [-s SNAPLEN] [-w PORT] [FILTER...] | pcap stop | pcap\n",
		"pcap start -s x":   "pcap: usage: pcap start [-s SNAPLEN] [-w PORT] [FILTER...] | pcap stop | pcap\n",
	} {
		out.Reset()
		run(t, s, line)
		assert.Equal(t, want, out.String(), line)
	}
	out.Reset()
	run(t, s, "   ")
	assert.Empty(t, out.String())
	assert.Empty(t, f.kills, "no mistake killed anything")
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"-9": syscall.SIGKILL, "-KILL": syscall.SIGKILL, "-SIGTERM": syscall.SIGTERM, "-hup": syscall.SIGHUP, "-QUIT": syscall.SIGQUIT} {
		got, ok := parseSignal(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"-0", "-99", "-NOPE", "-"} {
		_, ok := parseSignal(bad)
		assert.False(t, ok, bad)
	}
}

// TestIfconfigLease: an address from DHCP shows its server, lease time,
// time left and DNS servers; no address shows "none".
func TestIfconfigLease(t *testing.T) {
	s, f, out := newShell()
	now := time.Unix(1_800_000_000, 0)
	s.Now = func() time.Time { return now }
	f.iface = &adminproto.Interface{Link: "nic:net0", Addr: "10.0.2.15/24", Gateway: "10.0.2.2", MAC: "52:54:00:12:34:56", MTU: 1500, Ready: true,
		Lease: &adminproto.Lease{Server: "10.0.2.2", Seconds: 86400, Expiry: now.Add(23*time.Hour + 30*time.Second).Unix(), DNS: []string{"10.0.2.3"}}}
	require.NoError(t, s.Run(context.Background(), "ifconfig"))
	assert.Equal(t, "eth0: nic:net0\n    inet 10.0.2.15/24  gateway 10.0.2.2  mtu 1500\n"+
		"    dhcp server 10.0.2.2  lease 24h0m0s (23h0m30s left)  dns 10.0.2.3\n"+
		"    ether 52:54:00:12:34:56\n    RX 0 frames 0 bytes  TX 0 frames 0 bytes\n", out.String())

	out.Reset()
	f.iface.Lease.Expiry, f.iface.Lease.DNS = 0, nil
	require.NoError(t, s.Run(context.Background(), "ifconfig"))
	assert.Contains(t, out.String(), "    dhcp server 10.0.2.2  lease 24h0m0s (infinite)\n")

	out.Reset()
	f.iface = &adminproto.Interface{Link: "nic:net0", MAC: "52:54:00:12:34:56", MTU: 1500}
	require.NoError(t, s.Run(context.Background(), "ifconfig"))
	assert.Contains(t, out.String(), "    inet none  mtu 1500\n")
}
