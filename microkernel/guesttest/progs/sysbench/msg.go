//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"armos/abi"
	"armos/libipc"
)

// Message round trips between two processes, at 1 (0 for IPC calls), 64
// and 1500 bytes (an Ethernet frame), and one-way messages:
//
//   - msg-pipe-N: blocking pipes, the child echoes what it reads (both
//     systems: the baseline present everywhere);
//   - msg-unix-N, oneway-unix-64: an AF_UNIX SOCK_SEQPACKET socketpair
//     (Linux; armos has no Unix sockets);
//   - ipc-call-N, oneway-ipc-64: armos channels, a call answered by the
//     child's reply, and messages the child receives (armos only).
//
// A one-way figure is the time per message of n messages sent back to
// back (the receiver drains as the sender fills the queue), ended by one
// synchronisation so that every message is counted as received.

var msgSizes = []int{1, 64, 1500}

// benchMsg runs every message figure this system supports.
func benchMsg(n int) error {
	var errs []error
	for _, size := range msgSizes {
		errs = append(errs, msgPipe(n, size))
	}
	_, _, err := libipc.KChanCreate(syscall.O_CLOEXEC)
	armos := err == nil
	if armos {
		for _, size := range []int{0, 64, 1500} {
			errs = append(errs, ipcCall(n, size))
		}
		errs = append(errs, ipcOneway(n*4, 64))
	} else {
		for _, size := range msgSizes {
			errs = append(errs, unixPingPong(n, size))
		}
		errs = append(errs, unixOneway(n*4, 64))
	}
	return errors.Join(errs...)
}

// msgChild starts "sysbench MODE args..." with extra as descriptor 3
// (and stdin/stdout as given).
func msgChild(stdin, stdout *os.File, extra *os.File, mode string, args ...string) (*exec.Cmd, error) {
	cmd := &exec.Cmd{Path: os.Args[0], Args: append([]string{os.Args[0], mode}, args...), Stdin: stdin, Stdout: stdout, Stderr: os.Stderr}
	if stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if extra != nil {
		cmd.ExtraFiles = []*os.File{extra}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %v", os.Args[0], mode, err)
	}
	return cmd, nil
}

// echoMsg is a child mode: it answers each message read on in with the
// same bytes on out (blocking read/write) until end of input.
func echoMsg(in, out int) int {
	_ = syscall.SetNonblock(in, false)
	_ = syscall.SetNonblock(out, false)
	buf := make([]byte, 65536)
	for {
		n, err := syscall.Read(in, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sysbench echomsg: read:", err)
			return 1
		}
		if n == 0 {
			return 0
		}
		if _, err := syscall.Write(out, buf[:n]); err != nil {
			fmt.Fprintln(os.Stderr, "sysbench echomsg: write:", err)
			return 1
		}
	}
}

// roundTrips sends size bytes on w and reads them back on r, n times.
func roundTrips(w, r rawFile, size, n int) error {
	out := make([]byte, size)
	in := make([]byte, size)
	for i := range n {
		out[0] = byte(i)
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("round trip %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(r, in); err != nil {
			return fmt.Errorf("round trip %d: read: %v", i, err)
		}
		if in[0] != byte(i) {
			return fmt.Errorf("round trip %d: got %d back", i, in[0])
		}
	}
	return nil
}

// timed runs fn(warm-up) untimed, then fn(n) timed, and reports name.
func timed(name string, n int, fn func(int) error) error {
	if err := fn(warmup(n)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	start := time.Now()
	if err := fn(n); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	report(name, n, time.Since(start))
	return nil
}

// msgPipe is the pipe ping-pong of size-byte messages.
func msgPipe(n, size int) error {
	var toChild, fromChild [2]int
	if err := syscall.Pipe2(toChild[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	if err := syscall.Pipe2(fromChild[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	childIn := os.NewFile(uintptr(toChild[0]), "child stdin")
	childOut := os.NewFile(uintptr(fromChild[1]), "child stdout")
	cmd, err := msgChild(childIn, childOut, nil, "echomsg", "0", "1")
	childIn.Close()
	childOut.Close()
	w, r := rawFile(toChild[1]), rawFile(fromChild[0])
	if err != nil {
		syscall.Close(int(w))
		syscall.Close(int(r))
		return err
	}
	err = timed("msg-pipe-"+strconv.Itoa(size), n, func(k int) error { return roundTrips(w, r, size, k) })
	syscall.Close(int(w))
	werr := cmd.Wait()
	syscall.Close(int(r))
	return errors.Join(err, werr)
}

// unixPingPong is the same over a SOCK_SEQPACKET socketpair.
func unixPingPong(n, size int) error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("msg-unix: socketpair: %w", err)
	}
	theirs := os.NewFile(uintptr(fds[1]), "child socket")
	cmd, err := msgChild(nil, nil, theirs, "echomsg", "3", "3")
	theirs.Close()
	if err != nil {
		syscall.Close(fds[0])
		return err
	}
	s := rawFile(fds[0])
	err = timed("msg-unix-"+strconv.Itoa(size), n, func(k int) error { return roundTrips(s, s, size, k) })
	syscall.Shutdown(fds[0], syscall.SHUT_WR)
	werr := cmd.Wait()
	syscall.Close(fds[0])
	return errors.Join(err, werr)
}

// sinkUnix is a child mode: it counts the messages it reads on
// descriptor 3 until end of input, and answers a 1-byte message with the
// count so far.
func sinkUnix() int {
	buf := make([]byte, 65536)
	count := 0
	for {
		n, err := syscall.Read(3, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return 0
		}
		if n == 1 { // a sync request: how many so far
			if _, err := syscall.Write(3, []byte(strconv.Itoa(count))); err != nil {
				return 1
			}
			continue
		}
		count++
	}
}

// unixOneway sends n size-byte datagrams, then asks how many arrived.
func unixOneway(n, size int) error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("oneway-unix: socketpair: %w", err)
	}
	theirs := os.NewFile(uintptr(fds[1]), "child socket")
	cmd, err := msgChild(nil, nil, theirs, "sinkunix")
	theirs.Close()
	if err != nil {
		syscall.Close(fds[0])
		return err
	}
	s := rawFile(fds[0])
	msg := make([]byte, size)
	total := 0
	err = timed("oneway-unix-"+strconv.Itoa(size), n, func(k int) error {
		for i := 0; i < k; i++ {
			if _, err := s.Write(msg); err != nil {
				return err
			}
		}
		total += k
		if _, err := s.Write([]byte{0}); err != nil {
			return err
		}
		var b [32]byte
		m, err := s.Read(b[:])
		if err != nil {
			return err
		}
		if got, _ := strconv.Atoi(string(b[:m])); got != total {
			return fmt.Errorf("the receiver counted %d of %d", got, total)
		}
		return nil
	})
	syscall.Shutdown(fds[0], syscall.SHUT_WR)
	werr := cmd.Wait()
	syscall.Close(fds[0])
	return errors.Join(err, werr)
}

// ipcChannel makes a blocking channel and starts the child mode with the
// other end as descriptor 3.
func ipcChannel(mode string) (int, *exec.Cmd, error) {
	a, b, err := libipc.KChanCreate(syscall.O_CLOEXEC)
	if err != nil {
		return -1, nil, err
	}
	theirs := os.NewFile(uintptr(b), "child channel")
	cmd, err := msgChild(nil, nil, theirs, mode)
	theirs.Close()
	if err != nil {
		syscall.Close(a)
		return -1, nil, err
	}
	return a, cmd, nil
}

// ipcServe is a child mode: it answers every call on descriptor 3 with
// the request's bytes, counts plain messages, and answers a call of one
// byte 0xff with the count; it ends when the channel closes. Each answer
// and the next receive are one system call (KReplyRecv).
func ipcServe() int {
	buf := make([]byte, abi.MaxMessageBytes)
	count := 0
	reply := -1
	var answer []byte
	for {
		n, _, next, rerr, err := libipc.KReplyRecv(reply, answer, 3, buf, nil, abi.NoDeadline)
		reply = -1
		if rerr != nil && rerr != syscall.EPIPE {
			fmt.Fprintln(os.Stderr, "sysbench ipcsrv: reply:", rerr)
			return 1
		}
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.ECONNRESET {
			return 0
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sysbench ipcsrv: recv:", err)
			return 1
		}
		if next < 0 {
			count++
			continue
		}
		reply, answer = next, buf[:n]
		if n == 1 && buf[0] == 0xff {
			answer = []byte(strconv.Itoa(count))
		}
	}
}

// ipcCall measures call round trips of size bytes each way.
func ipcCall(n, size int) error {
	fd, cmd, err := ipcChannel("ipcsrv")
	if err != nil {
		return err
	}
	req := make([]byte, size)
	rep := make([]byte, size)
	err = timed("ipc-call-"+strconv.Itoa(size), n, func(k int) error {
		for i := 0; i < k; i++ {
			if size > 0 {
				req[0] = byte(i)
			}
			m, _, err := libipc.KCall(fd, req, nil, rep, nil, abi.NoDeadline)
			if err != nil {
				return fmt.Errorf("call %d: %v", i, err)
			}
			if m != size || (size > 0 && rep[0] != byte(i)) {
				return fmt.Errorf("call %d: %d bytes back", i, m)
			}
		}
		return nil
	})
	syscall.Close(fd)
	return errors.Join(err, cmd.Wait())
}

// ipcOneway sends n size-byte messages, then asks how many arrived.
func ipcOneway(n, size int) error {
	fd, cmd, err := ipcChannel("ipcsrv")
	if err != nil {
		return err
	}
	msg := make([]byte, size)
	total := 0
	var rep [32]byte
	err = timed("oneway-ipc-"+strconv.Itoa(size), n, func(k int) error {
		for i := 0; i < k; i++ {
			for {
				err := libipc.KSend(fd, msg, nil)
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					return fmt.Errorf("send %d: %v", i, err)
				}
				break
			}
		}
		total += k
		m, _, err := libipc.KCall(fd, []byte{0xff}, nil, rep[:], nil, abi.NoDeadline)
		if err != nil {
			return err
		}
		if got, _ := strconv.Atoi(string(rep[:m])); got != total {
			return fmt.Errorf("the receiver counted %d of %d", got, total)
		}
		return nil
	})
	syscall.Close(fd)
	return errors.Join(err, cmd.Wait())
}
