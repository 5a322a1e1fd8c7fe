// Command restarter is the guest side of the restart soak tests: started
// by init as an app, it kills the process serving a name (SIGKILL, as a
// crash would end it) N times, waiting each time until init has started a
// new one and it has registered the name again, and reports how long
// each took by the guest's clock.
//
//	restarter -service netd.sockets -after netd.sockets -n 50 -every 1100ms
//
// Lines:
//
//	restarter: netd.sockets restart 1: pid 4111 -> 4120 in 23.1 ms
//	restarter: done 50 restarts of netd.sockets (median 22.0 ms, max 40.2 ms)
//	restarter: census before: free 480012 KiB objects 61 init 3/1320 echo 5/2400 ...
//	restarter: census after:  free 479100 KiB objects 61 init 3/1320 echo 5/2404 ...
//
// The census lines (before the first kill, after the last restart) give
// the memory free, the kernel objects open and, for each process,
// descriptors/KiB of memory: what 1,000 restarts must give back.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"armos/libipc"
	"armos/libsys"
)

func main() {
	service := flag.String("service", "netd.sockets", "the registered name whose process is killed; several (joined with +, as init command-line entries split on commas): one at random each time")
	n := flag.Int("n", 10, "how many restarts")
	every := flag.Duration("every", 500*time.Millisecond, "the pause after each restart")
	first := flag.Duration("first", 2*time.Second, "the pause before the first kill")
	after := flag.String("after", "", "wait until this name is registered (the system is up) before the first pause")
	flag.Parse()
	if err := run(strings.Split(*service, "+"), *after, *n, *every, *first); err != nil {
		fmt.Fprintln(os.Stderr, "restarter:", err)
		os.Exit(1)
	}
}

// pidOf returns the pid serving name (0: none now).
func pidOf(ctx context.Context, c *libipc.InitClient, name string) (int, error) {
	ss, err := c.Services(ctx)
	if err != nil {
		return 0, err
	}
	for _, s := range ss {
		if s.Name == name {
			return s.Pid, nil
		}
	}
	return 0, nil
}

func run(names []string, after string, n int, every, first time.Duration) error {
	ctx := context.Background()
	c, err := libipc.Bootstrap()
	if err != nil {
		return err
	}
	for after != "" {
		pid, err := pidOf(ctx, c, after)
		if err != nil {
			return err
		}
		if pid != 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(first)
	if err := census("before:"); err != nil {
		return err
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	if len(names) > 1 {
		fmt.Printf("restarter: killing one of %s at random (seed %d)\n", strings.Join(names, ", "), seed)
	}
	var took []time.Duration
	for i := 1; i <= n; i++ {
		name := names[rng.IntN(len(names))]
		pid, err := pidOf(ctx, c, name)
		if err != nil {
			return err
		}
		if pid == 0 {
			return fmt.Errorf("nobody serves %s", name)
		}
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
		var next int
		var dying, gone time.Duration // kill to the victim no longer running, to it ended (a zombie, or reaped)
		for next == 0 || next == pid {
			if gone == 0 {
				switch stateOf(pid) {
				case "running":
				case "exiting":
					if dying == 0 {
						dying = time.Since(start)
					}
				default:
					gone = time.Since(start)
					if dying == 0 {
						dying = gone
					}
				}
			}
			if time.Since(start) > time.Minute {
				return fmt.Errorf("%s not served again within a minute of killing pid %d", name, pid)
			}
			time.Sleep(time.Millisecond)
			if next, err = pidOf(ctx, c, name); err != nil {
				return err
			}
		}
		d := time.Since(start)
		took = append(took, d)
		fmt.Printf("restarter: %s restart %d: pid %d -> %d in %.1f ms (exiting after %.1f ms, ended after %.1f ms)\n", name, i, pid, next,
			float64(d.Microseconds())/1000, float64(dying.Microseconds())/1000, float64(gone.Microseconds())/1000)
		time.Sleep(every)
	}
	time.Sleep(200 * time.Millisecond) // the last incarnation settles
	if err := census("after: "); err != nil {
		return err
	}
	slices.Sort(took)
	fmt.Printf("restarter: done %d restarts of %s (median %.1f ms, max %.1f ms)\n", n, strings.Join(names, ","),
		float64(took[len(took)/2].Microseconds())/1000, float64(took[len(took)-1].Microseconds())/1000)
	return nil
}

// census prints the memory free, the kernel objects open and each
// process's descriptors and memory (name pid fds/KiB), the kernel's first.
func census(when string) error {
	ps, err := libsys.Processes()
	if err != nil {
		return err
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "restarter: census %s free %d KiB objects %d", when, uint64(si.Freeram)*uint64(si.Unit)>>10, ps[0].Objects)
	for _, p := range ps[1:] {
		if p.State == "running" && p.Name != "restarter" {
			fmt.Fprintf(&b, " %s %d/%d", p.Name, p.Handles, p.MemoryKiB)
		}
	}
	fmt.Println(b.String())
	return nil
}

// stateOf returns process pid's state ("running", "exiting", "zombie"),
// or "" once it has been reaped.
func stateOf(pid int) string {
	ps, err := libsys.Processes()
	if err != nil {
		return ""
	}
	for _, p := range ps {
		if p.Pid == pid {
			return p.State
		}
	}
	return ""
}
