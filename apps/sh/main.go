// Command sh is armos's serial shell: init starts it on the console
// (`service sh console /bin/sh`), and an operator types commands — ps,
// kill, restart, ping, uptime, free, poweroff, help — with line editing
// and history (package lineedit). A mistyped command gets one line of
// usage; nothing typed crashes it.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"armos/apps/ping/ping"
	"armos/apps/sh/lineedit"
	"armos/apps/sh/shell"
	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/adminproto"
	"armos/libsocket/sockproto"
	"armos/libsys"
)

// Prompt is printed before each line.
const Prompt = "armos> "

// armosSys is shell.System on armos.
type armosSys struct{ sock *libsocket.Client }

// sockWait bounds the wait for the socket service when ping first needs it.
const sockWait = 5 * time.Second

func (*armosSys) Processes() ([]libsys.Process, error)   { return libsys.Processes() }
func (*armosSys) Kill(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }
func (*armosSys) Sysinfo() (time.Duration, uint64, uint64, error) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0, 0, 0, err
	}
	unit := uint64(si.Unit)
	return time.Duration(si.Uptime) * time.Second, si.Totalram * unit, si.Freeram * unit, nil
}

// Pinger connects to the socket service the first time it is needed
// (netd may start after the shell).
func (a *armosSys) Pinger() ping.Pinger {
	if a.sock == nil {
		ctx, cancel := context.WithTimeout(context.Background(), sockWait)
		defer cancel()
		c, err := libsocket.FromInit(ctx, sockproto.ServiceName)
		if err != nil {
			return nil
		}
		a.sock = c
	}
	return a.sock
}

// Admin makes one request of a network server's operators' service.
func (*armosSys) Admin(ctx context.Context, service string, op libipc.Op, req, resp any) error {
	boot, err := libipc.Bootstrap()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sockWait)
	defer cancel()
	c, err := adminproto.Dial(ctx, boot, service)
	if err != nil {
		return err
	}
	defer c.Close()
	if req == nil {
		return c.Call(ctx, op, resp)
	}
	return c.Do(ctx, op, req, resp)
}

func (*armosSys) Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func main() {
	// Ctrl-C reaches the shell as a byte (the console has no line
	// discipline); SIGINT/SIGTERM from elsewhere end it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; os.Exit(0) }()

	sh := &shell.Shell{Sys: &armosSys{}, Out: os.Stdout, Self: os.Getpid()}
	fmt.Println("sh: armos serial shell; help lists the commands")
	if err := loop(sh, os.Stdin, os.Stdout); err != nil && !errors.Is(err, shell.ErrPowerOff) {
		fmt.Fprintln(os.Stderr, "sh:", err)
		os.Exit(1)
	}
}

// loop reads the terminal, edits lines and runs them.
func loop(sh *shell.Shell, in io.Reader, out io.Writer) error {
	r := bufio.NewReader(in)
	var ed lineedit.Editor
	fmt.Fprint(out, Prompt)
	for {
		c, err := r.ReadByte()
		if err != nil {
			return err
		}
		res, echo := ed.Feed(c)
		out.Write(echo)
		switch res {
		case lineedit.Line:
			// A command runs to its end (ping stops after -c, 4 by
			// default); what is typed meanwhile waits in the console.
			if err := sh.Run(context.Background(), ed.Text()); errors.Is(err, shell.ErrPowerOff) {
				return err
			}
		case lineedit.EOF:
			fmt.Fprintln(out, "\n(use poweroff to stop armos)")
		}
		if res != lineedit.None {
			fmt.Fprint(out, Prompt)
		}
	}
}
