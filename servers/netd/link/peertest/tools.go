package peertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ToolTimeout bounds one run of a peer's tool (socat, ping).
const ToolTimeout = 30 * time.Second

// SocatEcho sends payload as one UDP datagram to ip:port with socat from
// inside the namespace and returns what came back (socat's stdout), its
// stderr and its error. dir holds the payload's temporary file.
func (ns *NS) SocatEcho(ctx context.Context, dir, ip string, port int, payload []byte) ([]byte, string, error) {
	f, err := os.CreateTemp(dir, "dgram")
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	if _, err := f.Write(payload); err != nil {
		return nil, "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, ToolTimeout)
	defer cancel()
	// -b: read the whole file as one datagram; -t: after sending, wait this
	// long for the answer.
	cmd := ns.Command(ctx, "socat", "-b", "65536", "-t", "2", "-", fmt.Sprintf("UDP4:%s:%d", ip, port))
	var stdout, stderr bytes.Buffer
	cmd.Stdin = f
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err = cmd.Run()
	return stdout.Bytes(), stderr.String(), err
}

// Htons converts a 16-bit value to network byte order (on little-endian
// machines, which both test hosts are).
func Htons(v uint16) uint16 { return v<<8 | v>>8 }

// RawSocket opens an AF_PACKET socket bound to dev inside the namespace,
// receiving (and sending) frames of protocol proto (syscall.ETH_P_ALL,
// ETH_P_ARP...). The caller closes it.
func (ns *NS) RawSocket(dev string, proto uint16) (int, error) {
	fd := -1
	err := ns.Do(func() error {
		var err error
		fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(Htons(proto)))
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		return syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: Htons(proto), Ifindex: ifi.Index})
	})
	if err != nil && fd >= 0 {
		syscall.Close(fd)
		fd = -1
	}
	return fd, err
}

// ReadyMAC extracts the MAC address from a ready line ("... mac M ...").
func ReadyMAC(line string) (net.HardwareAddr, error) {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "mac" {
			return net.ParseMAC(f[i+1])
		}
	}
	return nil, fmt.Errorf("no mac in %q", line)
}

// ParseReport reads netd's exit report ("layer:" headings, then indented
// "Name value" lines) into "layer.Name" -> value.
func ParseReport(out string) map[string]uint64 {
	m := map[string]uint64{}
	layer := ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && strings.HasSuffix(f[0], ":") && !strings.HasPrefix(line, " "):
			layer = strings.TrimSuffix(f[0], ":")
		case len(f) == 2 && strings.HasPrefix(line, " ") && layer != "":
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				m[layer+"."+f[0]] = v
			}
		}
	}
	return m
}
