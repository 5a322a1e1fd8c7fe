package main

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/fdt"
	"armos/microkernel/internal/proc"
	"armos/microkernel/internal/rt"
)

// Running programs from the boot image.
//
// The kernel command line names programs after "--": each "--" starts a
// command (NAME=value words to add to the environment, grant:KIND words
// naming devices to grant it, then the program path, then its arguments); a program without a "/" is looked up in /bin. All commands start at once; the kernel reports each
// one's end, then (unless "wait" was given) powers off when all have
// ended:
//
//	-append "-- gort -v -- exitcode 3"
//
// Until init exists (it will read the same syntax), the kernel itself is
// the spawner.

// commands splits the command line into the kernel's own words and the
// commands after "--".
func commands(cmdline string) (kernel []string, cmds [][]string) {
	words := strings.Fields(cmdline)
	i := 0
	for ; i < len(words) && words[i] != "--"; i++ {
		kernel = append(kernel, words[i])
	}
	for ; i < len(words); i++ {
		if words[i] == "--" {
			cmds = append(cmds, nil)
			continue
		}
		cmds[len(cmds)-1] = append(cmds[len(cmds)-1], words[i])
	}
	out := cmds[:0]
	for _, c := range cmds {
		if len(c) > 0 {
			out = append(out, c)
		}
	}
	return kernel, out
}

// splitEnv splits a command's leading NAME=value words off: they extend
// the default environment.
func splitEnv(c []string) (env, rest []string) {
	i := 0
	for i < len(c) && strings.Contains(c[i], "=") && !strings.HasPrefix(c[i], "=") && !strings.Contains(c[i], "/") {
		i++
	}
	if i == 0 {
		return nil, c
	}
	return append(append([]string(nil), proc.DefaultEnv...), c[:i]...), c[i:]
}

// splitGrants splits a command's leading grant:KIND words off and returns
// the devices they name: KIND is a virtio device kind (net, blk, console,
// rng, 9p, gpu, input, vsock) — the first such device not granted by an
// earlier word — or a slot's address (grant:0x0a003e00).
func splitGrants(c []string) (devs []int, rest []string, err error) {
	all := rt.Devices()
	taken := map[int]bool{}
	for len(c) > 0 && strings.HasPrefix(c[0], "grant:") {
		kind := strings.TrimPrefix(c[0], "grant:")
		d := findDevice(all, kind, taken)
		if d < 0 {
			return nil, nil, fmt.Errorf("%s: no such device free", c[0])
		}
		taken[d] = true
		devs = append(devs, d)
		c = c[1:]
	}
	return devs, c, nil
}

// virtioKinds are the virtio device IDs by name (Virtual I/O Device spec
// 1.2, 5).
var virtioKinds = map[string]uint32{"net": 1, "blk": 2, "console": 3, "rng": 4, "9p": 9, "gpu": 16, "input": 18, "vsock": 19}

// findDevice returns the device kind names (a kind or a slot address)
// that is not in taken and not granted already, or -1.
func findDevice(all []rt.Device, kind string, taken map[int]bool) int {
	addr, isAddr := uint64(0), false
	if v, err := strconv.ParseUint(kind, 0, 64); err == nil {
		addr, isAddr = v, true
	}
	id, isKind := virtioKinds[kind]
	for i, d := range all {
		if taken[i] || rt.DeviceOwner(i) != 0 {
			continue
		}
		if isAddr && d.Base == addr || isKind && d.Kind == id {
			return i
		}
	}
	return -1
}

// registerDevices records the populated virtio-mmio slots as devices the
// kernel may grant to driver processes.
func registerDevices(m *fdt.Machine) {
	if m == nil {
		return
	}
	for _, v := range m.Virtio {
		if arch.Read32(rt.DeviceAddr(v.Base)+virtioMagic) != virtioMagicWord {
			continue
		}
		id := arch.Read32(rt.DeviceAddr(v.Base) + virtioDeviceID)
		if id == 0 {
			continue
		}
		if _, err := rt.RegisterDevice(rt.Device{Base: v.Base, Size: v.Size, IRQ: v.IRQ.INTID, Kind: id, VirtioReset: true}); err != nil {
			fmt.Printf("armos: virtio slot %#x: %v\n", v.Base, err)
		}
	}
}

// programPath returns where a command's program lives.
func programPath(name string) string {
	if strings.Contains(name, "/") {
		return path.Clean("/" + name)
	}
	return "/bin/" + name
}

// openImage indexes the boot image and starts the system-call services
// and the reaper. It returns nil (after saying why) when there is none.
func openImage() *proc.FS {
	go rt.RunReaper()
	size, err := rt.BootImage()
	if err != nil {
		fmt.Printf("armos: %v\n", err)
		return nil
	}
	fs, err := proc.NewFS(size, rt.ReadImage)
	if err != nil {
		fmt.Printf("armos: boot image refused: %v\n", err)
		return nil
	}
	files := fs.Files()
	fmt.Printf("armos: boot image: %d bytes, %d files\n", size, len(files))
	go fs.Serve()
	return fs
}

// runCommands starts every command and waits for all of them. It returns
// the number that could not start.
func runCommands(fs *proc.FS, cmds [][]string) int {
	// The kernel's own runtime opens its netpoller (an epoll instance and
	// an eventfd) the first time it sleeps: do that before counting, so
	// the census sees only what processes hold.
	time.Sleep(time.Millisecond)
	before := rt.TakeCensus()
	var wg sync.WaitGroup
	failed := 0
	for _, c := range cmds {
		env, c := splitEnv(c)
		devs, c, err := splitGrants(c)
		if err != nil {
			fmt.Printf("armos: cannot start a command: %v\n", err)
			failed++
			continue
		}
		if len(c) == 0 {
			fmt.Printf("armos: command with no program: %q\n", env)
			failed++
			continue
		}
		p := programPath(c[0])
		pid, err := fs.Spawn(proc.Spec{Path: p, Argv: append([]string{p}, c[1:]...), Env: env, Limits: defaultLimits(), Devices: devs})
		if err != nil {
			fmt.Printf("armos: cannot start %s: %v\n", p, err)
			failed++
			continue
		}
		fmt.Printf("armos: started %s as pid %d\n", p, pid)
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := rt.WaitProcess(pid)
			if err != nil {
				fmt.Printf("armos: pid %d: %v\n", pid, err)
				return
			}
			name := path.Base(p)
			if info.Killed {
				fmt.Printf("armos: process %s (pid %d) killed by signal %d (status %d)\n", name, pid, info.Signal, info.Code())
			} else {
				fmt.Printf("armos: process %s (pid %d) exited with status %d\n", name, pid, info.Status)
			}
		}()
	}
	wg.Wait()
	after := rt.TakeCensus()
	st := rt.ReadStats()
	fmt.Printf("armos: census before %s\n", before)
	fmt.Printf("armos: census after  %s\n", after)
	fmt.Printf("armos: asid rollovers %d, address space switches %d, thread switches %d, system calls %d\n",
		st.ASIDRollovers, st.TTBRSwitches, st.Switches, st.Syscalls)
	lm := rt.LongestMasked()
	fmt.Printf("armos: longest interrupts-masked interval %d ns of counter time (guest instructions under -icount shift=0) in %s\n", lm.NS, lm.Where)
	return failed
}

// defaultLimits bounds each program the kernel starts: half of RAM.
func defaultLimits() rt.Limits {
	ms := rt.ReadMemStats()
	return rt.Limits{Pages: ms.TotalPages / 2}
}
