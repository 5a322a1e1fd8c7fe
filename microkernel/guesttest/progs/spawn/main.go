// Command spawn checks process creation with os/exec: it re-executes itself
// (os.Args[0], since the target OS has no /proc for os.Executable) with the
// environment variable ARMOS_SPAWN_CHILD selecting what the child does.
//
// Usage:
//
//	spawn [-run REGEXP] [-v] [-list] [-timeout D]
//
// Every child gets explicit standard files (a pipe or the parent's stderr),
// so nothing depends on /dev/null.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"armos/microkernel/guesttest/progs/check"
)

// churn is the number of short-lived children checkChurn starts (0: it
// does nothing): a stress test of process creation and teardown.
var churn = flag.Int("churn", 0, "start this many children that exit at once, four at a time (the churn check)")

// childEnv names the environment variable that makes the program a child
// and selects its behaviour; see child.
const childEnv = "ARMOS_SPAWN_CHILD"

func main() {
	if mode, ok := os.LookupEnv(childEnv); ok {
		os.Exit(child(mode, os.Args[1:]))
	}
	check.Add("exit-status", checkExitStatus)
	check.Add("stdout-pipe", checkStdoutPipe)
	check.Add("stdin-pipe", checkStdinPipe)
	check.Add("args", checkArgs)
	check.Add("env", checkEnv)
	check.Add("pids", checkPids)
	check.Add("concurrent", checkConcurrent)
	check.Add("kill", checkKill)
	check.Add("panic", checkPanic)
	check.Add("churn", checkChurn)
	check.Main()
}

// child runs the child behaviour mode and returns the exit status.
func child(mode string, args []string) int {
	switch mode {
	case "exit": // exit with status args[0] after sleeping args[1], if given
		if len(args) > 1 {
			d, _ := time.ParseDuration(args[1])
			time.Sleep(d)
		}
		n, _ := strconv.Atoi(args[0])
		return n
	case "hello": // a fixed line on stdout
		fmt.Println("hello from the child")
	case "upper": // stdin to stdout, upper-cased
		in, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: reading stdin:", err)
			return 1
		}
		os.Stdout.Write(bytes.ToUpper(in))
	case "args": // each argument quoted on its own line
		for _, a := range os.Args {
			fmt.Printf("%q\n", a)
		}
	case "env": // the environment, one variable a line
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	case "pids": // process and parent process IDs
		fmt.Println(os.Getpid(), os.Getppid())
	case "block": // say ready, then wait to be killed
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "panic":
		panic("child: deliberate panic")
	case "segv":
		var p *[2]int
		fmt.Println(p[1])
	default:
		fmt.Fprintf(os.Stderr, "child: unknown mode %q\n", mode)
		return 100
	}
	return 0
}

// self is the path of this program as it was started.
func self() string { return os.Args[0] }

// command returns a Cmd that runs this program as a child in the given mode.
// Its stdin is empty, its stdout discarded and its stderr the parent's;
// callers replace them as they need.
func command(mode string, args ...string) *exec.Cmd {
	cmd := &exec.Cmd{
		Path:   self(),
		Args:   append([]string{self()}, args...),
		Env:    []string{childEnv + "=" + mode},
		Stdin:  strings.NewReader(""),
		Stdout: io.Discard,
		Stderr: os.Stderr,
	}
	return cmd
}

// checkExitStatus: a child's exit status reaches the parent.
func checkExitStatus(t *check.T) {
	if err := command("exit", "0").Run(); err != nil {
		t.Errorf("child exiting 0: %v", err)
	}
	for _, status := range []int{1, 3, 255} {
		err := command("exit", strconv.Itoa(status)).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("child exiting %d: err = %v, want an *exec.ExitError", status, err)
			continue
		}
		if ee.ExitCode() != status || !ee.Exited() || ee.Success() {
			t.Errorf("child exiting %d: ExitCode %d, Exited %v, Success %v",
				status, ee.ExitCode(), ee.Exited(), ee.Success())
		}
	}
}

// checkStdoutPipe: a child's stdout comes back through a pipe.
func checkStdoutPipe(t *check.T) {
	cmd := command("hello")
	cmd.Stdout = nil // Output sets it
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Output: %v", err)
	}
	if string(out) != "hello from the child\n" {
		t.Errorf("child wrote %q", out)
	}
}

// checkStdinPipe: data larger than a pipe's buffer goes to a child's stdin
// and comes back from its stdout, both pipes busy at once.
func checkStdinPipe(t *check.T) {
	cmd := command("upper")
	cmd.Stdin, cmd.Stdout = nil, nil // the pipes replace them
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("StdinPipe: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("StdoutPipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	var in bytes.Buffer
	for i := 0; in.Len() < 200<<10; i++ {
		fmt.Fprintf(&in, "line %d of the input, lower case\n", i)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := stdin.Write(in.Bytes())
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		werr <- err
	}()
	out, err := io.ReadAll(stdout)
	if err != nil {
		t.Errorf("reading the child's stdout: %v", err)
	}
	if err := <-werr; err != nil {
		t.Errorf("writing the child's stdin: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
	if !bytes.Equal(out, bytes.ToUpper(in.Bytes())) {
		t.Errorf("child returned %d bytes, want the %d bytes sent, upper-cased", len(out), in.Len())
	}
}

// checkArgs: arguments reach the child unchanged, argv[0] included.
func checkArgs(t *check.T) {
	args := []string{"plain", "with space", "", "ünïcödé", "-flag", `quote"s`}
	cmd := command("args", args...)
	cmd.Stdout = nil
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Output: %v", err)
	}
	var want strings.Builder
	for _, a := range append([]string{self()}, args...) {
		fmt.Fprintf(&want, "%q\n", a)
	}
	if string(out) != want.String() {
		t.Errorf("child printed its arguments as\n%s\nwant\n%s", out, want.String())
	}
}

// checkEnv: a child gets exactly the environment in cmd.Env.
func checkEnv(t *check.T) {
	cmd := command("env")
	cmd.Env = append(cmd.Env, "SPAWN_VALUE=hello world", "SPAWN_EMPTY=", "SPAWN_EQ=a=b")
	cmd.Stdout = nil
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Output: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	slices.Sort(got)
	want := slices.Sorted(slices.Values(cmd.Env))
	if !slices.Equal(got, want) {
		t.Errorf("child environment %q, want %q", got, want)
	}
}

// checkPids: the child's process ID is the one Start returned and its
// parent is this process.
func checkPids(t *check.T) {
	cmd := command("pids")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var pid, ppid int
	if _, err := fmt.Sscan(out.String(), &pid, &ppid); err != nil {
		t.Fatalf("child printed %q: %v", out.String(), err)
	}
	if pid != cmd.Process.Pid || pid == os.Getpid() {
		t.Errorf("child's getpid %d, Start gave %d, parent is %d", pid, cmd.Process.Pid, os.Getpid())
	}
	if ppid != os.Getpid() {
		t.Errorf("child's getppid %d, want %d", ppid, os.Getpid())
	}
}

// checkConcurrent: four children run at once and each one's status comes
// back to the right Wait.
func checkConcurrent(t *check.T) {
	const n = 4
	cmds := make([]*exec.Cmd, n)
	pids := make(map[int]bool)
	for i := range cmds {
		// Later children exit sooner, so they are reaped out of order.
		cmds[i] = command("exit", strconv.Itoa(10+i), fmt.Sprintf("%dms", 10*(n-i)))
		if err := cmds[i].Start(); err != nil {
			t.Fatalf("Start child %d: %v", i, err)
		}
		pids[cmds[i].Process.Pid] = true
	}
	if len(pids) != n {
		t.Errorf("%d children got %d distinct process IDs", n, len(pids))
	}
	for i, cmd := range cmds {
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 10+i {
			t.Errorf("child %d: Wait = %v, want exit status %d", i, err, 10+i)
		}
	}
}

// checkKill: a child killed with SIGKILL, or terminated with SIGTERM (which
// a Go program does not catch), reports the signal.
func checkKill(t *check.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		cmd := command("block")
		cmd.Stdout = nil
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatalf("StdoutPipe: %v", err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("Start: %v", err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if line != "ready\n" {
			t.Errorf("child said %q (%v), want ready", line, err)
		}
		if sig == syscall.SIGKILL {
			err = cmd.Process.Kill()
		} else {
			err = cmd.Process.Signal(sig)
		}
		if err != nil {
			t.Errorf("sending %v: %v", sig, err)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("%v: Wait = %v, want an *exec.ExitError", sig, err)
			continue
		}
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != sig || ee.ExitCode() != -1 {
			t.Errorf("%v: wait status %v (%#v), ExitCode %d", sig, ee, ee.Sys(), ee.ExitCode())
		}
		if want := "signal: " + sig.String(); err.Error() != want {
			t.Errorf("%v: error %q, want %q", sig, err, want)
		}
	}
}

// checkPanic: a child that panics, or faults on a nil pointer, exits with
// status 2 after printing the panic on stderr.
func checkPanic(t *check.T) {
	for mode, msg := range map[string]string{
		"panic": "panic: child: deliberate panic",
		"segv":  "invalid memory address or nil pointer dereference",
	} {
		cmd := command(mode)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: Run = %v, want exit status 2", mode, err)
		}
		if !strings.Contains(stderr.String(), msg) || !strings.Contains(stderr.String(), "goroutine ") {
			t.Errorf("%s: stderr %q lacks %q and a goroutine trace", mode, stderr.String(), msg)
		}
	}
}

// checkChurn starts -churn children, four at a time, each exiting at once
// with status 0, and checks every one's status.
func checkChurn(t *check.T) {
	if *churn == 0 {
		t.Logf("skipped: -churn 0")
		return
	}
	start := time.Now()
	sem := make(chan struct{}, 4)
	errs := make(chan error, *churn)
	for i := 0; i < *churn; i++ {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			cmd := exec.Command(os.Args[0], "0")
			cmd.Env = []string{childEnv + "=exit"}
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			errs <- cmd.Run()
		}()
	}
	failed := 0
	for i := 0; i < *churn; i++ {
		if err := <-errs; err != nil {
			failed++
			if failed <= 3 {
				t.Errorf("child: %v", err)
			}
		}
	}
	fmt.Printf("spawn: churn: %d children in %v, %d failed\n", *churn, time.Since(start).Round(time.Millisecond), failed)
}
