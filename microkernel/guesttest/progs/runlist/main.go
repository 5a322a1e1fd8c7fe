// Command runlist runs commands one after another, as a minimal shell
// script would: each line of the file named by its argument is a program
// and its arguments, separated by spaces (no quoting; a line starting with
// # is a comment). Each program writes straight to runlist's own standard
// output and error. Around each, runlist prints
//
//	runlist: start <line number> <program>
//	runlist: end <line number> <program> status <N> in <duration>
//
// so a reader can split the output by program, and at the end
// "runlist: N commands, M failed". The exit status is 1 if any command
// failed or could not start.
//
// Usage: runlist [-timeout D] FILE
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	timeout := flag.Duration("timeout", 30*time.Minute, "time limit for each command")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: runlist [-timeout D] FILE")
		os.Exit(64)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Println("runlist:", err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n, failed, line := 0, 0, 0
	for sc.Scan() {
		line++
		words := strings.Fields(sc.Text())
		if len(words) == 0 || strings.HasPrefix(words[0], "#") {
			continue
		}
		n++
		if status := run(line, words, *timeout); status != 0 {
			failed++
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Println("runlist:", err)
		failed++
	}
	fmt.Printf("runlist: %d commands, %d failed\n", n, failed)
	if failed > 0 {
		os.Exit(1)
	}
}

// run runs one command and returns its exit status (-1 if it could not
// start or was killed).
func run(line int, words []string, timeout time.Duration) int {
	fmt.Printf("runlist: start %d %s\n", line, words[0])
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, words[0], words[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	status := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		fmt.Printf("runlist: %s: %v\n", words[0], err)
		status = -1
	}
	fmt.Printf("runlist: end %d %s status %d in %v\n", line, words[0], status, time.Since(start).Round(time.Millisecond))
	return status
}
