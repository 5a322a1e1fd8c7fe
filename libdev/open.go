package libdev

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"armos/abi"
)

// EnvDevices names the environment variable in which init lists the
// device descriptors it passed a driver ("4,5").
const EnvDevices = "ARMOS_DEVICES"

// Kinds maps the names init's configuration uses (device=net) to virtio
// device IDs.
var Kinds = map[string]uint32{"net": 1, "blk": 2, "console": 3, "rng": 4, "9p": 9, "gpu": 16, "input": 18, "vsock": 19}

// Selector parses a device selector: a kind name (net, blk, rng...) or
// the physical address of the device's registers (0x0a003e00).
func Selector(s string) (uint64, error) {
	if k, ok := Kinds[s]; ok {
		return uint64(k), nil
	}
	if strings.HasPrefix(s, "0x") {
		if a, err := strconv.ParseUint(s[2:], 16, 64); err == nil && a >= abi.DevSelectorAddr {
			return a, nil
		}
	}
	return 0, fmt.Errorf("libdev: device %q: want a kind (net, blk, rng, ...) or a register address (0x0a003e00)", s)
}

// Open opens the device sel names (Selector) and returns its descriptor,
// to pass to a driver. Only a process the kernel started (init) may.
func Open(sel uint64) (*os.File, error) {
	fd, _, e := syscall.RawSyscall(abi.SysDevOpen, uintptr(sel), syscall.O_CLOEXEC, 0)
	if e != 0 {
		return nil, fmt.Errorf("libdev: open device %#x: %w", sel, e)
	}
	return os.NewFile(fd, fmt.Sprintf("device %#x", sel)), nil
}

// Attach makes the device of descriptor fd one of this process's grants.
func Attach(fd int) (*Device, error) {
	g, _, e := syscall.RawSyscall(abi.SysDevAttach, uintptr(fd), 0, 0)
	if e != 0 {
		return nil, fmt.Errorf("libdev: attach device descriptor %d: %w", fd, e)
	}
	return Grant(int(g))
}

// ParseEnv parses EnvDevices' value: descriptors separated by commas.
func ParseEnv(v string) ([]int, error) {
	if v == "" {
		return nil, fmt.Errorf("libdev: no devices passed (%s unset)", EnvDevices)
	}
	var fds []int
	for _, f := range strings.Split(v, ",") {
		fd, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || fd < 0 {
			return nil, fmt.Errorf("libdev: %s=%q: %q is not a descriptor", EnvDevices, v, f)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// FromEnv attaches every device init passed (EnvDevices), in order.
func FromEnv() ([]*Device, error) {
	fds, err := ParseEnv(os.Getenv(EnvDevices))
	if err != nil {
		return nil, err
	}
	var devs []*Device
	for _, fd := range fds {
		d, err := Attach(fd)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d)
	}
	return devs, nil
}
