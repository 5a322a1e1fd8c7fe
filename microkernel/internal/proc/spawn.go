package proc

import (
	"fmt"
	"path"

	"armos/microkernel/internal/mm"
	"armos/microkernel/internal/rt"
)

// Spec describes a program to start.
type Spec struct {
	Path   string    // in the boot image, e.g. /bin/hello
	Argv   []string  // argv[0] included; default: {Path}
	Env    []string  // default: DefaultEnv
	Limits rt.Limits // what the process may hold
}

// DefaultEnv is the environment of programs the kernel starts.
var DefaultEnv = []string{"HOME=/", "PATH=/bin", "TERM=dumb"}

// MaxExecutable bounds the size of a program file the loader accepts
// (it is read into kernel memory whole).
const MaxExecutable = 256 << 20

// image returns the parsed executable at p (symbolic links followed) and
// its bytes, or an error naming the file and what is wrong with it.
func (f *FS) image(p string) (*Image, []byte, error) {
	e, err := f.Lookup(p, false)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	if e.IsDir() || !e.IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", p)
	}
	if e.Perm()&0o111 == 0 {
		return nil, nil, fmt.Errorf("%s: not executable (mode %o)", p, e.Perm())
	}
	file, err := f.ReadFile(e, MaxExecutable)
	if err != nil {
		return nil, nil, err
	}
	img, err := ParseELF(file)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	return img, file, nil
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
	img, file, err := f.image(s.Path)
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
	space := func(fn func(as *mm.AddressSpace) mm.Errno) error { return rt.WithSpace(pid, fn) }
	entry, sp, err := Load(space, img, file, stackArgs(argv, env))
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
	img, file, err := f.image(p)
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
	space := func(fn func(as *mm.AddressSpace) mm.Errno) error { return rt.WithSpace(pid, fn) }
	entry, sp, err := Load(space, img, file, stackArgs(argv, env))
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
