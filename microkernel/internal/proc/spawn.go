package proc

import (
	"fmt"
	"path"

	"armos/microkernel/internal/bootimg"

	"armos/microkernel/internal/mm"
	"armos/microkernel/internal/rt"
)

// Spec describes a program to start.
type Spec struct {
	Path   string    // in the boot image, e.g. /bin/hello
	Argv   []string  // argv[0] included; default: {Path}
	Env    []string  // default: DefaultEnv
	Limits rt.Limits // what the process may hold
	// Devices are granted to the process before it starts, in order: its
	// grant numbers 0, 1, ... (rt.GrantDevice, docs/devices.md).
	Devices []int
}

// DefaultEnv is the environment of programs the kernel starts.
var DefaultEnv = []string{"HOME=/", "PATH=/bin", "TERM=dumb"}

// MaxExecutable bounds the size of a program file the loader accepts.
const MaxExecutable = 256 << 20

// program is a program file of the image, checked and parsed.
type program struct {
	entry *bootimg.Entry
	img   *Image
}

// image returns the program at p (symbolic links followed), parsed from
// its headers, or an error naming the file and what is wrong with it.
func (f *FS) image(p string) (program, error) {
	e, err := f.Lookup(p, false)
	if err != nil {
		return program{}, fmt.Errorf("%s: %w", p, err)
	}
	if e.IsDir() || !e.IsRegular() {
		return program{}, fmt.Errorf("%s: not a regular file", p)
	}
	if e.Perm()&0o111 == 0 {
		return program{}, fmt.Errorf("%s: not executable (mode %o)", p, e.Perm())
	}
	if e.Size > MaxExecutable {
		return program{}, fmt.Errorf("%s: %d bytes, more than the %d allowed", p, e.Size, MaxExecutable)
	}
	f.imagesMu.Lock()
	img := f.images[e.DataOff]
	f.imagesMu.Unlock()
	if img != nil {
		return program{entry: e, img: img}, nil
	}
	hdr := make([]byte, min(e.Size, HeaderBytes))
	if err := f.read(e.DataOff, hdr); err != nil {
		return program{}, fmt.Errorf("%s: reading the boot image: %w", p, err)
	}
	img, err = ParseELFHeaders(hdr, e.Size)
	if err != nil {
		return program{}, fmt.Errorf("%s: %w", p, err)
	}
	f.imagesMu.Lock()
	if f.images == nil {
		f.images = map[uint64]*Image{}
	}
	f.images[e.DataOff] = img
	f.imagesMu.Unlock()
	return program{entry: e, img: img}, nil
}

// load loads prog into the address space process pid owns.
func (f *FS) load(pid int32, prog program, args StackArgs) (entry, sp uint64, err error) {
	src := func(off uint64, dst []byte) error { return f.read(prog.entry.DataOff+off, dst) }
	return Load(kernelTarget{pid: pid, file: prog.entry}, prog.img, src, args)
}

// kernelTarget loads into a process through the kernel's process API.
type kernelTarget struct {
	pid  int32
	file *bootimg.Entry
}

func (t kernelTarget) Step(fn func(as *mm.AddressSpace) mm.Errno) error {
	return rt.WithSpace(t.pid, fn)
}

func (t kernelTarget) MapFile(va, size, filesz uint64, prot mm.Prot, off uint64, private bool) (bool, error) {
	return rt.MapFile(t.pid, rt.FileMapping{VA: va, Size: size, Prot: prot, DataOff: t.file.DataOff,
		FileSize: t.file.Size, Off: off, Filesz: filesz, Private: private})
}

// stackArgs returns the initial stack contents for argv and env.
func stackArgs(argv, env []string) StackArgs {
	a := StackArgs{Argv: argv, Envp: env, Auxv: [][2]uint64{{AtHwcap, rt.HWCAP()}, {AtSysinfoEhdr, rt.VDSOAddr()}}}
	rt.Random(a.Random[:])
	return a
}

// Spawn starts the program s describes as a new process, a child of the
// kernel, and returns its pid. Collect it with rt.WaitProcess.
func (f *FS) Spawn(s Spec) (int32, error) {
	prog, err := f.image(s.Path)
	if err != nil {
		return 0, err
	}
	argv, env := s.Argv, s.Env
	if len(argv) == 0 {
		argv = []string{s.Path}
	}
	if env == nil {
		env = DefaultEnv
	}
	pid, err := rt.NewProcess(path.Base(s.Path), s.Limits)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.Path, err)
	}
	for _, d := range s.Devices {
		if _, err = rt.GrantDevice(pid, d); err != nil {
			err = fmt.Errorf("device %d: %w", d, err)
			break
		}
	}
	var entry, sp uint64
	if err == nil {
		entry, sp, err = f.load(pid, prog, stackArgs(argv, env))
	}
	if err == nil {
		rt.SyncICache()
		err = rt.StartProcess(pid, entry, sp)
	}
	if err != nil {
		rt.Kill(pid, 9)
		rt.WaitProcess(pid)
		return 0, fmt.Errorf("%s: %w", s.Path, err)
	}
	return pid, nil
}

// exec replaces the image of the process waiting in execve call c.
// Errors before the point of no return (lookup, ELF checks) are returned
// as errnos for the call; a failure while loading kills the process.
func (f *FS) exec(c rt.ServiceCall, p string, argv, env []string) uint64 {
	prog, err := f.image(p)
	if err != nil {
		return rt.Errno(execErrno(err))
	}
	if len(argv) == 0 {
		argv = []string{p}
	}
	pid, err := rt.ExecBegin(c)
	if err != nil {
		return rt.Errno(3) // ESRCH: the caller is gone
	}
	entry, sp, err := f.load(pid, prog, stackArgs(argv, env))
	if err == nil {
		rt.SyncICache()
		err = rt.ExecCommit(c, path.Base(p), entry, sp)
	}
	if err != nil {
		fmt.Printf("armos: exec %s in pid %d failed after the point of no return: %v\n", p, pid, err)
		rt.Kill(pid, 9)
	}
	return 0 // not seen: the thread runs the new image (or is gone)
}
