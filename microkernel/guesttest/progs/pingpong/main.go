// Command pingpong measures and checks two kinds of wake-up:
//
//   - between processes: it re-executes itself (os.Args[0]) as a child
//     connected by two pipes, and a byte bounces between them N times;
//   - between threads: two goroutines locked to their own OS threads
//     alternate over unbuffered channels N times (futex wait and wake).
//
// Usage:
//
//	pingpong [-n N] [-run REGEXP] [-v] [-list] [-timeout D]
//
// Besides the check lines it prints one machine-readable line per
// measurement:
//
//	pingpong: N round trips in D ns
//	threadswitch: N round trips in D ns
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"armos/microkernel/guesttest/progs/check"
)

// childEnv makes the program the echoing child.
const childEnv = "ARMOS_PINGPONG_CHILD"

var rounds = flag.Int("n", 1000, "round trips per measurement")

func main() {
	if _, ok := os.LookupEnv(childEnv); ok {
		os.Exit(echo(os.Stdin, os.Stdout))
	}
	check.Add("pipe-pingpong", checkPipePingPong)
	check.Add("threadswitch", checkThreadSwitch)
	check.Main()
}

// echo is the child: it answers each byte read from in with that byte plus
// one on out, and at end of input writes how many bytes it answered, in
// decimal on a line. It returns the exit status.
func echo(in io.Reader, out io.Writer) int {
	var b [1]byte
	n := 0
	for {
		if _, err := in.Read(b[:]); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "pingpong child: read:", err)
			return 1
		}
		b[0]++
		if _, err := out.Write(b[:]); err != nil {
			fmt.Fprintln(os.Stderr, "pingpong child: write:", err)
			return 1
		}
		n++
	}
	fmt.Fprintln(out, n)
	return 0
}

// checkPipePingPong bounces a byte through a child process N times.
func checkPipePingPong(t *check.T) {
	n := *rounds
	cmd := &exec.Cmd{
		Path:   os.Args[0],
		Args:   []string{os.Args[0]},
		Env:    []string{childEnv + "=1"},
		Stderr: os.Stderr,
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("StdinPipe: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("StdoutPipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the child: %v", err)
	}
	defer cmd.Wait()
	defer stdin.Close()

	var b [1]byte
	trips := 0
	start := time.Now()
	for i := range n {
		b[0] = byte(i)
		if _, err := stdin.Write(b[:]); err != nil {
			t.Fatalf("round trip %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(stdout, b[:]); err != nil {
			t.Fatalf("round trip %d: read: %v", i, err)
		}
		if b[0] != byte(i+1) {
			t.Fatalf("round trip %d: got %d back, want %d", i, b[0], byte(i+1))
		}
		trips++
	}
	elapsed := time.Since(start)
	report("pingpong", trips, elapsed)

	stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Errorf("reading the child's count: %v", err)
	}
	if got, _ := strconv.Atoi(strings.TrimSpace(line)); got != n {
		t.Errorf("child answered %q bytes, want %d", line, n)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
	if trips != n {
		t.Errorf("%d round trips, want %d", trips, n)
	}
}

// checkThreadSwitch bounces a counter between two goroutines locked to
// their own OS threads N times.
func checkThreadSwitch(t *check.T) {
	n := *rounds
	ping, pong := make(chan int), make(chan int)
	result := make(chan int)
	ready := make(chan struct{})

	go func() { // the answering thread
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	var elapsed time.Duration
	go func() { // the asking thread
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		<-ready
		start := time.Now()
		trips := 0
		for i := range n {
			ping <- i
			if v := <-pong; v == i+1 {
				trips++
			}
		}
		elapsed = time.Since(start)
		close(ping)
		result <- trips
	}()
	close(ready)
	trips := <-result
	report("threadswitch", trips, elapsed)
	if trips != n {
		t.Errorf("%d correct round trips, want %d", trips, n)
	}
}

// report prints the machine-readable line of a measurement.
func report(what string, trips int, elapsed time.Duration) {
	fmt.Printf("%s: %d round trips in %d ns\n", what, trips, elapsed.Nanoseconds())
	if trips > 0 {
		fmt.Printf("%s: %d ns per round trip\n", what, elapsed.Nanoseconds()/int64(trips))
	}
}
