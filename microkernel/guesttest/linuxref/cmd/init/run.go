//go:build linux

package main

import (
	"os/exec"
	"path"
	"syscall"

	"armos/microkernel/guesttest/linuxref"
)

// run runs one linuxref.run command (args is the program's os.Args, the
// path first) and waits for it: its stdout and stderr reach the console a
// line at a time, each line prefixed with the program's name, as armos
// prints a process's output; then the exit line (linuxref.Exit). Its stdin
// is /dev/null. A program that cannot be started is a failure of the run.
func run(opts linuxref.Options, args []string) {
	name := path.Base(args[0])
	stdout := &linuxref.LineWriter{W: console, Prefix: name + ": "}
	stderr := &linuxref.LineWriter{W: console, Prefix: name + ": "}
	cmd := &exec.Cmd{Path: args[0], Args: args, Stdout: stdout, Stderr: stderr}
	if err := cmd.Start(); err != nil {
		fail(opts, "cannot start %s: %v", args[0], err)
	}
	_ = cmd.Wait() // how it ended is in ProcessState
	_ = stdout.Close()
	_ = stderr.Close()
	e := linuxref.Exit{Name: name, Pid: cmd.Process.Pid}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = int(ws.Signal())
		e.Status = 128 + e.Signal
	} else {
		e.Status = cmd.ProcessState.ExitCode()
	}
	say("%s", e)
}
