package main

import (
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"armos/microkernel/internal/proc"
	"armos/microkernel/internal/rt"
)

// Running programs from the boot image.
//
// The kernel command line names programs after "--": each "--" starts a
// command (NAME=value words to add to the environment, then the program
// path, then its arguments); a program without a "/" is looked up in /bin. All commands start at once; the kernel reports each
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
		if len(c) == 0 {
			fmt.Printf("armos: command with no program: %q\n", env)
			failed++
			continue
		}
		p := programPath(c[0])
		pid, err := fs.Spawn(proc.Spec{Path: p, Argv: append([]string{p}, c[1:]...), Env: env, Limits: defaultLimits()})
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
