//go:build linux

package link

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"

	"armos/libipc/skbuff"
)

// Constants from <linux/if_tun.h> and <linux/sockios.h>. They are the same on
// every Linux architecture armos builds for (amd64, arm64).
const (
	tunSetIff   = 0x400454ca // TUNSETIFF = _IOW('T', 202, int)
	iffTap      = 0x0002     // IFF_TAP: Ethernet frames, not IP packets
	iffNoPI     = 0x1000     // IFF_NO_PI: no 4-byte packet-information prefix
	siocGIFMTU  = 0x8921     // SIOCGIFMTU
	siocGIFHWAD = 0x8927     // SIOCGIFHWADDR
	ifNameSize  = 16         // IFNAMSIZ
	tunDevice   = "/dev/net/tun"
)

// ifreq is the prefix of struct ifreq the ioctls above use: the interface
// name followed by a union whose first bytes are the field we read or write.
// The 24-byte union holds its largest member (struct ifmap) on 64-bit Linux.
type ifreq struct {
	name [ifNameSize]byte
	data [24]byte
}

func newIfreq(name string) (*ifreq, error) {
	if name == "" || len(name) >= ifNameSize {
		return nil, fmt.Errorf("link: interface name %q must be 1..%d bytes", name, ifNameSize-1)
	}
	r := new(ifreq)
	copy(r.name[:], name)
	return r, nil
}

// TAP is an open Linux TAP device. ReadFrame and WriteFrame may be called from
// different goroutines at the same time; Close unblocks a pending ReadFrame.
type TAP struct {
	f    *os.File
	name string
	mtu  int
	// hostMAC is the MAC address of the Linux side of the device (the
	// kernel's own interface). netd must use a different one as its own.
	hostMAC net.HardwareAddr
}

// OpenTAP attaches to the TAP device called name, creating it if it does not
// exist (creating needs CAP_NET_ADMIN). The device stays in whatever state
// the administrator left it: bring it up and give the Linux side an address
// with `ip link set NAME up` / `ip addr add`.
func OpenTAP(name string) (*TAP, error) {
	req, err := newIfreq(name)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Open(tunDevice, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("link: open %s: %w (needs root or CAP_NET_ADMIN)", tunDevice, err)
	}
	*(*uint16)(unsafe.Pointer(&req.data[0])) = iffTap | iffNoPI
	if err := ioctl(fd, tunSetIff, unsafe.Pointer(req)); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("link: TUNSETIFF %s: %w", name, err)
	}
	// Non-blocking before os.NewFile so the file joins Go's poller: reads
	// then park the goroutine instead of a thread, and Close wakes them.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("link: set non-blocking: %w", err)
	}
	t := &TAP{f: os.NewFile(uintptr(fd), tunDevice), name: name}
	if t.mtu, err = interfaceMTU(name); err != nil {
		t.f.Close()
		return nil, err
	}
	if t.mtu > MaxMTU {
		t.f.Close()
		return nil, fmt.Errorf("link: %s has MTU %d, netd handles at most %d (ip link set %s mtu 1500)", name, t.mtu, MaxMTU, name)
	}
	if t.hostMAC, err = interfaceMAC(name); err != nil {
		t.f.Close()
		return nil, err
	}
	return t, nil
}

// Name is the device's interface name.
func (t *TAP) Name() string { return t.name }

// MTU is the device's IP MTU (1500 unless the administrator changed it).
func (t *TAP) MTU() int { return t.mtu }

// HostMAC is the hardware address of the Linux end of the device. netd's own
// address must differ from it.
func (t *TAP) HostMAC() net.HardwareAddr { return t.hostMAC }

// ReadFrame blocks until one Ethernet frame arrives and copies it into p,
// returning its length. A frame longer than p is truncated by the kernel; p
// of MTU+14 bytes is always enough. After Close it returns ErrClosed.
func (t *TAP) ReadFrame(p []byte) (int, error) {
	n, err := t.f.Read(p)
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("link: read %s: %w", t.name, err)
	}
	return n, nil
}

// WriteFrame sends one Ethernet frame (destination MAC first, no FCS).
func (t *TAP) WriteFrame(p []byte) error {
	if len(p) < ethHeaderLen {
		return fmt.Errorf("link: write %s: %d-byte frame shorter than an Ethernet header", t.name, len(p))
	}
	n, err := t.f.Write(p)
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("link: write %s: %w", t.name, err)
	}
	if n != len(p) {
		return fmt.Errorf("link: write %s: short write %d of %d", t.name, n, len(p))
	}
	return nil
}

// Close detaches from the device; a pending ReadFrame returns ErrClosed. A
// device created by OpenTAP (not persistent) disappears with it.
func (t *TAP) Close() error { return t.f.Close() }

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// ifaceIoctl runs an SIOCGIF* request on a throwaway datagram socket.
func ifaceIoctl(name string, req uintptr) (*ifreq, error) {
	r, err := newIfreq(name)
	if err != nil {
		return nil, err
	}
	s, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("link: socket for ioctl: %w", err)
	}
	defer syscall.Close(s)
	if err := ioctl(s, req, unsafe.Pointer(r)); err != nil {
		return nil, fmt.Errorf("link: ioctl %#x on %s: %w", req, name, err)
	}
	return r, nil
}

func interfaceMTU(name string) (int, error) {
	r, err := ifaceIoctl(name, siocGIFMTU)
	if err != nil {
		return 0, err
	}
	return int(*(*int32)(unsafe.Pointer(&r.data[0]))), nil
}

func interfaceMAC(name string) (net.HardwareAddr, error) {
	r, err := ifaceIoctl(name, siocGIFHWAD)
	if err != nil {
		return nil, err
	}
	// struct sockaddr: 2-byte family, then the address bytes.
	mac := make(net.HardwareAddr, 6)
	copy(mac, r.data[2:8])
	return mac, nil
}

// ReadBuf blocks until one frame arrives and appends it to b, which must be
// empty (a Buf fresh from skbuff.Get). The caller keeps ownership of b.
func (t *TAP) ReadBuf(b *skbuff.Buf) error { return readBuf(t, b) }

// Transmit sends the bytes of b as one Ethernet frame. It satisfies the
// stack's Link contract: it takes ownership of b and frees it, whether or not
// the write succeeds.
func (t *TAP) Transmit(b *skbuff.Buf) error {
	if b == nil {
		return skbuff.ErrNilBuf
	}
	err := t.WriteFrame(b.Bytes())
	releaseBuf(b)
	return err
}
