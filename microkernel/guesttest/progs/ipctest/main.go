// Command ipctest checks armos IPC from user space: kernel channels through
// libipc's kernel transport and the raw calls, between goroutines of one
// process and between processes (children started with os/exec, the channel
// passed as descriptor 3), including peer-closed on exit and on kill,
// back-pressure, descriptors in messages, rights, calls with deferred
// replies, and a libipc server in a child. It runs only on armos (on Linux
// every IPC call is ENOSYS).
//
// Usage:
//
//	ipctest [-run REGEXP] [-v] [-list] [-timeout D]
//	ipctest -fuzz N [-seed S]   random IPC calls with random arguments
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"armos/abi"
	"armos/libipc"
	"armos/microkernel/guesttest/progs/check"
)

// childEnv selects a child role.
const childEnv = "ARMOS_IPCTEST_CHILD"

var (
	fuzzCount = flag.Int("fuzz", 0, "make this many random IPC calls, then exit")
	fuzzSeed  = flag.Uint64("seed", 1, "seed of -fuzz")
	role      = flag.String("role", "", "run as a service of init: crashy (registers \"crashy\", exits with status 3 after 300ms)")
)

func main() {
	if role, ok := os.LookupEnv(childEnv); ok {
		os.Exit(child(role))
	}
	flag.Parse()
	if *fuzzCount > 0 {
		os.Exit(fuzz(*fuzzCount, *fuzzSeed))
	}
	if *role == "crashy" {
		os.Exit(crashy())
	}
	if _, err := libipc.Bootstrap(); err == nil {
		// Started by init: its name service and restarts.
		// init-restart first: crashy's early restarts are quick (the
		// backoff doubles with each).
		check.Add("init-restart", checkInitRestart)
		check.Add("init-names", checkInitNames)
	}
	check.Add("pair", checkPair)
	check.Add("sizes", checkSizes)
	check.Add("backpressure", checkBackPressure)
	check.Add("caps", checkCaps)
	check.Add("rights", checkRights)
	check.Add("errors", checkErrors)
	check.Add("child-exit", checkChildExit)
	check.Add("child-kill", checkChildKill)
	check.Add("call", checkCall)
	check.Add("call-deferred", checkCallDeferred)
	check.Add("call-server-dies", checkCallServerDies)
	check.Add("libipc-server", checkLibipcServer)
	check.Add("waitany", checkWaitAny)
	check.Add("peek", checkPeek)
	check.Add("shm", checkShm)
	check.Add("wait-many", checkWaitMany)
	check.Main()
}

const wait = 10 * time.Second

// wait10s bounds a loop of waits.
const wait10s = 10 * time.Second

func ctxT(t *check.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	_ = cancel // ends with the program's checks
	return ctx
}

func pair(t *check.T) (*libipc.KernelEndpoint, *libipc.KernelEndpoint) {
	a, b, err := libipc.NewKernelPair()
	if err != nil {
		t.Fatalf("NewKernelPair: %v", err)
	}
	return a, b
}

// checkPair: messages both ways in order; a blocked Recv wakes for a
// message sent later; ctx ends a Recv; closing one end gives the other
// its queued messages, then ErrPeerClosed; a closed end is ErrClosed.
func checkPair(t *check.T) {
	a, b := pair(t)
	for i := 0; i < 10; i++ {
		if err := a.TrySend(libipc.Message{Data: []byte{byte(i)}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for i := 0; i < 10; i++ {
		m, err := b.TryRecv()
		if err != nil || len(m.Data) != 1 || m.Data[0] != byte(i) {
			t.Fatalf("recv %d: %v %v", i, m.Data, err)
		}
	}
	if _, err := b.TryRecv(); !errors.Is(err, libipc.ErrWouldBlock) {
		t.Fatalf("empty TryRecv: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		m, err := b.Recv(ctxT(t))
		if err == nil && string(m.Data) != "later" {
			err = fmt.Errorf("got %q", m.Data)
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := b2a(a).Send(ctxT(t), libipc.Message{Data: []byte("later")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatalf("blocked recv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := b.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("recv past its context: %v", err)
	}
	if err := a.TrySend(libipc.Message{Data: []byte("last")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	a.Close()
	if m, err := b.Recv(ctxT(t)); err != nil || string(m.Data) != "last" {
		t.Fatalf("drain after close: %q %v", m.Data, err)
	}
	if _, err := b.Recv(ctxT(t)); !errors.Is(err, libipc.ErrPeerClosed) {
		t.Fatalf("after drain: %v", err)
	}
	if err := b.TrySend(libipc.Message{}); !errors.Is(err, libipc.ErrPeerClosed) {
		t.Fatalf("send to a closed peer: %v", err)
	}
	b.Close()
	if _, err := b.TryRecv(); !errors.Is(err, libipc.ErrClosed) {
		t.Fatalf("own end closed: %v", err)
	}
}

func b2a(e *libipc.KernelEndpoint) libipc.Endpoint { return e }

// checkSizes: every size up to the maximum arrives intact; one more byte
// is ErrTooLarge.
func checkSizes(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	defer b.Close()
	for _, n := range []int{0, 1, 100, 3839, 3840, 3841, 4096, 8000, 40000, abi.MaxMessageBytes} {
		d := make([]byte, n)
		for i := range d {
			d[i] = byte(i*7 + n)
		}
		if err := a.Send(ctxT(t), libipc.Message{Data: d}); err != nil {
			t.Fatalf("send %d: %v", n, err)
		}
		m, err := b.Recv(ctxT(t))
		if err != nil || !bytes.Equal(m.Data, d) {
			t.Fatalf("recv %d: %d bytes, %v", n, len(m.Data), err)
		}
		m.Release()
	}
	if err := a.TrySend(libipc.Message{Data: make([]byte, abi.MaxMessageBytes+1)}); !errors.Is(err, libipc.ErrTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
}

// checkBackPressure: 64 messages fill a queue; a blocked Send resumes
// when the receiver takes one; a Send whose context ends gives up.
func checkBackPressure(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	defer b.Close()
	n := 0
	for ; n < 1000; n++ {
		if err := a.TrySend(libipc.Message{Data: []byte{1}}); err != nil {
			if !errors.Is(err, libipc.ErrWouldBlock) {
				t.Fatalf("send %d: %v", n, err)
			}
			break
		}
	}
	if n != abi.QueueLen {
		t.Fatalf("queue took %d messages, want %d", n, abi.QueueLen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := a.Send(ctx, libipc.Message{Data: []byte{2}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send past its context: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Send(ctxT(t), libipc.Message{Data: []byte{3}}) }()
	time.Sleep(20 * time.Millisecond)
	if _, err := b.Recv(ctxT(t)); err != nil {
		t.Fatalf("recv: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("blocked send: %v", err)
	}
}

// checkCaps: a channel end travels in a message and works on arrival;
// the sender's descriptor is gone; a pipe travels as a KernelHandle.
func checkCaps(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	defer b.Close()
	x, y := pair(t)
	defer x.Close()
	yfd := y.Fd()
	if err := a.TrySend(libipc.Message{Data: []byte("take y"), Caps: []libipc.Cap{y}}); err != nil {
		t.Fatalf("send cap: %v", err)
	}
	if _, err := libipc.KHandleInfo(yfd); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("the sender still has y: %v", err)
	}
	m, err := b.Recv(ctxT(t))
	if err != nil || len(m.Caps) != 1 {
		t.Fatalf("recv cap: %v %d caps", err, len(m.Caps))
	}
	y2, ok := m.Caps[0].(*libipc.KernelEndpoint)
	if !ok {
		t.Fatalf("cap is a %T", m.Caps[0])
	}
	defer y2.Close()
	if err := x.TrySend(libipc.Message{Data: []byte("via y")}); err != nil {
		t.Fatalf("send on x: %v", err)
	}
	if m, err := y2.Recv(ctxT(t)); err != nil || string(m.Data) != "via y" {
		t.Fatalf("recv on the moved end: %q %v", m.Data, err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatalf("pipe: %v", err)
	}
	defer syscall.Close(p[0])
	if err := a.TrySend(libipc.Message{Caps: []libipc.Cap{libipc.NewKernelHandle(p[1])}}); err != nil {
		t.Fatalf("send pipe: %v", err)
	}
	m, err = b.Recv(ctxT(t))
	if err != nil || len(m.Caps) != 1 {
		t.Fatalf("recv pipe: %v", err)
	}
	h, ok := m.Caps[0].(*libipc.KernelHandle)
	if !ok {
		t.Fatalf("pipe cap is a %T", m.Caps[0])
	}
	if _, err := syscall.Write(h.Fd(), []byte("z")); err != nil {
		t.Fatalf("write the moved pipe: %v", err)
	}
	var c [1]byte
	if n, err := syscall.Read(p[0], c[:]); n != 1 || c[0] != 'z' {
		t.Fatalf("read the pipe: %d %v", n, err)
	}
	h.Close()
}

// checkRights: a send-only duplicate sends but cannot receive, duplicate
// or move; rights cannot grow.
func checkRights(t *check.T) {
	a, b, err := libipc.KChanCreate(syscall.O_CLOEXEC)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	defer syscall.Close(a)
	defer syscall.Close(b)
	so, err := libipc.KHandleDup(a, abi.RightSend, syscall.O_CLOEXEC)
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	defer syscall.Close(so)
	info, err := libipc.KHandleInfo(so)
	ia, _ := libipc.KHandleInfo(a)
	ib, _ := libipc.KHandleInfo(b)
	if err != nil || info.Type != abi.TypeChannel || info.Rights != abi.RightSend || info.ID != ia.ID || info.Peer != ib.ID {
		t.Fatalf("info %+v (a %+v b %+v): %v", info, ia, ib, err)
	}
	if err := libipc.KSend(so, []byte("x"), nil); err != nil {
		t.Fatalf("send-only send: %v", err)
	}
	buf := make([]byte, 8)
	if _, _, _, err := libipc.KRecv(so, buf, nil, abi.DontWait); err != syscall.EACCES {
		t.Fatalf("recv without the right: %v", err)
	}
	if _, err := libipc.KHandleDup(so, abi.RightSend, 0); err != syscall.EACCES {
		t.Fatalf("dup without the right: %v", err)
	}
	if _, err := syscall.Dup(so); err != syscall.EACCES {
		t.Fatalf("dup(2) without the right: %v", err)
	}
	if _, err := libipc.KHandleDup(a, abi.RightsAll|1<<7, 0); err != syscall.EINVAL {
		t.Fatalf("unknown right: %v", err)
	}
	x, y, _ := libipc.KChanCreate(syscall.O_CLOEXEC)
	defer syscall.Close(x)
	defer syscall.Close(y)
	if err := libipc.KSend(x, nil, []int32{int32(so)}); err != syscall.EPERM {
		t.Fatalf("move without the right: %v", err)
	}
	if n, _, _, err := libipc.KRecv(b, buf, nil, abi.DontWait); err != nil || n != 1 {
		t.Fatalf("recv: %d %v", n, err)
	}
}

// checkErrors: bad descriptors, wrong types, bad pointers and sizes get
// their errno and change nothing.
func checkErrors(t *check.T) {
	a, b, _ := libipc.KChanCreate(syscall.O_CLOEXEC | syscall.O_NONBLOCK)
	defer syscall.Close(a)
	defer syscall.Close(b)
	var p [2]int
	syscall.Pipe2(p[:], syscall.O_CLOEXEC)
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	cases := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"bad fd", libipc.KSend(999, nil, nil), syscall.EBADF},
		{"closed fd", libipc.KSend(200, nil, nil), syscall.EBADF},
		{"pipe", libipc.KSend(p[1], nil, nil), syscall.EPROTOTYPE},
		{"oversize", libipc.KSend(a, make([]byte, abi.MaxMessageBytes+1), nil), syscall.EMSGSIZE},
		{"five fds", libipc.KSend(a, nil, []int32{0, 1, 2, int32(p[0]), int32(p[1])}), syscall.EMSGSIZE},
		{"own end", libipc.KSend(a, nil, []int32{int32(a)}), syscall.EINVAL},
		{"peer end", libipc.KSend(a, nil, []int32{int32(b)}), syscall.EINVAL},
		{"repeat", libipc.KSend(a, nil, []int32{int32(p[0]), int32(p[0])}), syscall.EINVAL},
		{"console", libipc.KSend(a, nil, []int32{1}), syscall.EPERM},
		{"reply on a channel", libipc.KReply(a, nil, nil), syscall.EPROTOTYPE},
		{"empty", func() error { _, _, _, err := libipc.KRecv(b, nil, nil, abi.DontWait); return err }(), syscall.EAGAIN},
		{"passed deadline", func() error { _, _, _, err := libipc.KRecv(b, nil, nil, 1); return err }(), syscall.ETIMEDOUT},
		{"call never waits", func() error { _, _, err := libipc.KCall(a, nil, nil, nil, nil, abi.DontWait); return err }(), syscall.EINVAL},
	}
	for _, c := range cases {
		if c.err != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
	for _, ptr := range []uintptr{0, 0x10, 0xffff_0000_0000_0000, 0x7fff_ffff_f000} {
		if _, _, e := syscall.Syscall(abi.SysChanSend, uintptr(a), ptr, 0); e != syscall.EFAULT {
			t.Errorf("send msg at %#x: %v", ptr, e)
		}
		if _, _, e := syscall.Syscall(abi.SysChanCreate, 0, ptr, 0); e != syscall.EFAULT {
			t.Errorf("create fds at %#x: %v", ptr, e)
		}
		m := abi.Msg{Data: uint64(ptr), Len: 100}
		if _, _, e := syscall.Syscall(abi.SysChanSend, uintptr(a), uintptr(unsafe.Pointer(&m)), 0); e != syscall.EFAULT {
			t.Errorf("send data at %#x: %v", ptr, e)
		}
	}
	// A receive buffer at a bad address leaves the message queued.
	libipc.KSend(a, []byte("kept"), nil)
	m := abi.Msg{Data: 0x10, Cap: 100}
	if _, _, e := syscall.Syscall(abi.SysChanRecv, uintptr(b), uintptr(unsafe.Pointer(&m)), uintptr(abi.DontWait)); e != syscall.EFAULT {
		t.Errorf("recv into a bad buffer: %v", e)
	}
	buf := make([]byte, 2)
	if n, _, _, err := libipc.KRecv(b, buf, nil, abi.DontWait); err != syscall.EMSGSIZE || n != 4 {
		t.Errorf("small buffer: %d %v", n, err)
	}
	buf = make([]byte, 4)
	if n, _, _, err := libipc.KRecv(b, buf, nil, abi.DontWait); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("the message was kept: %q %v", buf[:n], err)
	}
	// RecvMore: set while more messages stay queued, clear on the last.
	libipc.KSend(a, []byte("one"), nil)
	libipc.KSend(a, []byte("two"), nil)
	for i, want := range []bool{true, false} {
		if _, _, _, more, err := libipc.KRecvMore(b, buf, nil, abi.DontWait); err != nil || more != want {
			t.Errorf("receive %d of 2: RecvMore %v (want %v) %v", i+1, more, want, err)
		}
	}
}

// startChild starts this program as a child in role with end as its
// descriptor 3.
func startChild(t *check.T, role string, end *libipc.KernelEndpoint) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{end.File()}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child %s: %v", role, err)
	}
	end.Close() // the child has it now
	return cmd
}

// checkChildExit: a child echoes messages and exits; its end closes with
// it, and the parent sees ErrPeerClosed.
func checkChildExit(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	cmd := startChild(t, "echo", b)
	for i := 0; i < 100; i++ {
		d := bytes.Repeat([]byte{byte(i)}, i*37)
		if err := a.Send(ctxT(t), libipc.Message{Data: d}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		m, err := a.Recv(ctxT(t))
		if err != nil || !bytes.Equal(m.Data, d) {
			t.Fatalf("echo %d: %d bytes, %v", i, len(m.Data), err)
		}
	}
	a.TrySend(libipc.Message{Data: []byte("bye")})
	if _, err := a.Recv(ctxT(t)); !errors.Is(err, libipc.ErrPeerClosed) {
		t.Fatalf("after the child exited: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// checkChildKill: a child blocked receiving is killed; the parent's
// blocked Recv ends with ErrPeerClosed.
func checkChildKill(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	cmd := startChild(t, "echo", b)
	a.Send(ctxT(t), libipc.Message{Data: []byte("x")})
	if _, err := a.Recv(ctxT(t)); err != nil {
		t.Fatalf("echo: %v", err)
	}
	got := make(chan error, 1)
	go func() { _, err := a.Recv(ctxT(t)); got <- err }()
	time.Sleep(20 * time.Millisecond)
	cmd.Process.Kill()
	if err := <-got; !errors.Is(err, libipc.ErrPeerClosed) {
		t.Fatalf("after kill: %v", err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child status: %v", err)
	}
}

// checkCall: kernel calls to a child server, request and reply data
// checked, a hundred times.
func checkCall(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	cmd := startChild(t, "callsrv", b)
	for i := 0; i < 100; i++ {
		req := bytes.Repeat([]byte{byte(i)}, i*50)
		rep, err := a.Call(ctxT(t), req)
		if err != nil || len(rep) != len(req)+1 || rep[0] != 'R' || !bytes.Equal(rep[1:], req) {
			t.Fatalf("call %d: %d bytes, %v", i, len(rep), err)
		}
	}
	a.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// checkCallDeferred: the server holds the first call's reply while it
// answers the second; both callers get their own answers.
func checkCallDeferred(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	cmd := startChild(t, "defersrv", b)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, req := range []string{"first", "second"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := a.Call(ctxT(t), []byte(req))
			if err == nil && string(rep) != "answer to "+req {
				err = fmt.Errorf("%s got %q", req, rep)
			}
			errs <- err
		}()
		time.Sleep(20 * time.Millisecond) // first is queued before second
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("%v", err)
		}
	}
	a.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// checkCallServerDies: a server that exits holding a call's reply fails
// the call with EPIPE (ErrPeerClosed), not a hang.
func checkCallServerDies(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	cmd := startChild(t, "diesrv", b)
	if _, err := a.Call(ctxT(t), []byte("never answered")); !errors.Is(err, libipc.ErrPeerClosed) {
		t.Fatalf("call: %v", err)
	}
	cmd.Wait()
	// A call with a deadline to a server that does not answer times out.
	c, d := pair(t)
	defer c.Close()
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, []byte("x")); !errors.Is(err, libipc.ErrTimeout) {
		t.Fatalf("call past its deadline: %v", err)
	}
}

// Ops of the libipc-server check.
const (
	opEcho libipc.Op = 1
	opSum  libipc.Op = 2
)

type echoReq struct{ Text string }
type sumReq struct{ Numbers []int }
type sumResp struct{ Sum int }

// checkLibipcServer: a libipc Server in a child answers Conn.Call over
// the kernel transport, concurrently, with typed messages and errors.
func checkLibipcServer(t *check.T) {
	a, b := pair(t)
	cmd := startChild(t, "libipcsrv", b)
	c := libipc.NewConn(a)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				var resp echoReq
				text := fmt.Sprintf("g%d-%d", g, i)
				if err := c.Call(ctxT(t), opEcho, &echoReq{Text: text}, &resp); err != nil || resp.Text == "" || resp.Text != text {
					t.Errorf("echo %s: %q %v", text, resp.Text, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var s sumResp
	if err := c.Call(ctxT(t), opSum, &sumReq{Numbers: []int{1, 2, 3}}, &s); err != nil || s.Sum != 6 {
		t.Fatalf("sum: %d %v", s.Sum, err)
	}
	if err := c.Call(ctxT(t), opSum, &sumReq{}, &s); !errors.Is(err, libipc.ErrInvalid) {
		t.Fatalf("remote error: %v", err)
	}
	if err := c.Call(ctxT(t), 99, &sumReq{}, &s); !errors.Is(err, libipc.ErrUnknownOp) {
		t.Fatalf("unknown op: %v", err)
	}
	c.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// checkWaitAny: one wait over kernel and in-memory endpoints wakes for a
// message on any of them, and for a closed peer; its context ends it.
func checkWaitAny(t *check.T) {
	a1, b1 := pair(t)
	a2, b2 := pair(t)
	ma, mb := libipc.NewPair(4)
	defer b1.Close()
	defer b2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := libipc.WaitAny(ctx, b1, b2, mb); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("nothing ready: %v", err)
	}
	for _, c := range []struct {
		send func() error
		want int
	}{
		{func() error { return a2.TrySend(libipc.Message{Data: []byte("2")}) }, 1},
		{func() error { return ma.TrySend(libipc.Message{Data: []byte("m")}) }, 2},
		{func() error { return a1.Close() }, 0},
	} {
		got := make(chan int, 1)
		go func() {
			i, err := libipc.WaitAny(ctxT(t), b1, b2, mb)
			if err != nil {
				i = -1
			}
			got <- i
		}()
		time.Sleep(20 * time.Millisecond)
		if err := c.send(); err != nil {
			t.Fatalf("send: %v", err)
		}
		if i := <-got; i != c.want {
			t.Fatalf("WaitAny woke for %d, want %d", i, c.want)
		}
		// Drain what made it ready.
		switch c.want {
		case 1:
			b2.Recv(ctxT(t))
		case 2:
			mb.Recv(ctxT(t))
		}
	}
	a2.Close()
}

// checkPeek: a peek reports a waiting message's sizes without taking it.
func checkPeek(t *check.T) {
	a, b, _ := libipc.KChanCreate(syscall.O_CLOEXEC)
	defer syscall.Close(a)
	defer syscall.Close(b)
	if err := libipc.KPeek(b, abi.DontWait); err != syscall.EAGAIN {
		t.Fatalf("peek empty: %v", err)
	}
	libipc.KSend(a, []byte("12345"), nil)
	m := abi.Msg{Flags: abi.RecvPeek}
	if _, _, e := syscall.Syscall(abi.SysChanRecv, uintptr(b), uintptr(unsafe.Pointer(&m)), uintptr(abi.DontWait)); e != 0 || m.Len != 5 || m.Reply != -1 {
		t.Fatalf("peek: %v %+v", e, m)
	}
	buf := make([]byte, 8)
	if n, _, _, err := libipc.KRecv(b, buf, nil, abi.DontWait); err != nil || n != 5 {
		t.Fatalf("recv after peek: %d %v", n, err)
	}
	syscall.Close(a)
	if err := libipc.KPeek(b, abi.DontWait); err != syscall.ECONNRESET {
		t.Fatalf("peek after close: %v", err)
	}
}

// crashy is a service that registers "crashy", lives 300ms and exits
// with status 3: init restarts it, backing off.
func crashy() int {
	boot, err := libipc.Bootstrap()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipctest crashy:", err)
		return 1
	}
	err = boot.RegisterErr(context.Background(), "crashy", func(ep libipc.Endpoint) {
		ep.TrySend(libipc.Message{Data: []byte(fmt.Sprint(os.Getpid()))})
		ep.Close()
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipctest crashy:", err)
		return 1
	}
	time.Sleep(300 * time.Millisecond)
	return 3
}

// checkInitNames: init's name service: an unknown name is ErrNotFound, a
// name can be served by one process only, Services lists the names, and
// a connection reaches the service's accept function.
func checkInitNames(t *check.T) {
	boot, _ := libipc.Bootstrap()
	if _, err := boot.Connect(ctxT(t), "no-such-service"); !errors.Is(err, libipc.ErrNotFound) {
		t.Fatalf("unknown service: %v", err)
	}
	accepted := make(chan libipc.Endpoint, 1)
	if err := boot.RegisterErr(ctxT(t), "ipctest.names", func(ep libipc.Endpoint) { accepted <- ep }); err != nil {
		t.Fatalf("register: %v", err)
	}
	// netd registers its name once its address is probed: wait for it.
	if ep, err := boot.ConnectWait(ctxT(t), "netd.sockets"); err != nil {
		t.Fatalf("waiting for netd: %v", err)
	} else {
		ep.Close()
	}
	if err := boot.RegisterErr(ctxT(t), "netd.sockets", func(libipc.Endpoint) {}); !errors.Is(err, libipc.ErrExists) {
		t.Fatalf("registering netd's name: %v", err)
	}
	ep, err := boot.Connect(ctxT(t), "ipctest.names")
	if err != nil {
		t.Fatalf("connect to myself: %v", err)
	}
	srv := <-accepted
	if err := ep.TrySend(libipc.Message{Data: []byte("hi")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if m, err := srv.Recv(ctxT(t)); err != nil || string(m.Data) != "hi" {
		t.Fatalf("recv on the accepted end: %q %v", m.Data, err)
	}
	ep.Close()
	srv.Close()
	svcs, err := boot.Services(ctxT(t))
	if err != nil {
		t.Fatalf("services: %v", err)
	}
	names := map[string]int{}
	for _, s := range svcs {
		names[s.Name] = s.Pid
	}
	if names["ipctest.names"] != os.Getpid() || names["netd.sockets"] == 0 {
		t.Fatalf("services %v", svcs)
	}
}

// checkInitRestart: the crashy service dies every 300ms; each time init
// restarts it (with growing delays) and a new connection reaches a new
// process.
func checkInitRestart(t *check.T) {
	boot, _ := libipc.Bootstrap()
	pids := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for len(pids) < 3 && time.Now().Before(deadline) {
		ep, err := boot.ConnectWait(ctxT(t), "crashy")
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		m, err := ep.Recv(ctxT(t))
		ep.Close()
		if err == nil {
			pids[string(m.Data)] = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(pids) < 3 {
		t.Fatalf("reached %d crashy processes, want 3", len(pids))
	}
}

// checkShm: shared memory made here, mapped here and, after travelling
// in a message, in a child: each sees the other's writes.
func checkShm(t *check.T) {
	const size = 3 * 4096
	fd, err := libipc.KShmCreate(size, syscall.O_CLOEXEC)
	if err != nil {
		t.Fatalf("shm create: %v", err)
	}
	mem, err := syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	defer syscall.Munmap(mem)
	copy(mem[5000:], "written by the parent")
	pas := make([]uint64, 3)
	if n, err := libipc.KShmInfo(fd, pas); err != nil || n != 3 || pas[0] == 0 || pas[0] == pas[1] {
		t.Fatalf("shm info: %d %v %#x", n, err, pas)
	}
	if _, err := syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE); err != syscall.EINVAL {
		t.Fatalf("private mapping: %v", err)
	}
	a, b := pair(t)
	defer a.Close()
	cmd := startChild(t, "shm", b)
	if err := a.Send(ctxT(t), libipc.Message{Data: []byte("map this"), Caps: []libipc.Cap{libipc.NewKernelHandle(fd)}}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if m, err := a.Recv(ctxT(t)); err != nil || string(m.Data) != "done" {
		t.Fatalf("child: %q %v", m.Data, err)
	}
	if got := string(mem[9000:9020]); got != "written by the child" {
		t.Fatalf("parent reads %q", got)
	}
	a.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// checkWaitMany: one epoll wait covers a channel and a process's end
// (pidfd_open): it reports the channel's message, then the child's death.
func checkWaitMany(t *check.T) {
	a, b := pair(t)
	defer a.Close()
	cmd := startChild(t, "echo", b)
	pidfd, _, e := syscall.Syscall(434, uintptr(cmd.Process.Pid), 0, 0) // pidfd_open
	if e != 0 {
		t.Fatalf("pidfd_open: %v", e)
	}
	defer syscall.Close(int(pidfd))
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatalf("epoll: %v", err)
	}
	defer syscall.Close(ep)
	// A second descriptor for the channel end, so Go's poller keeps its own.
	chfd, err := syscall.Dup(a.Fd())
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	defer syscall.Close(chfd)
	for _, fd := range []int{chfd, int(pidfd)} {
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			t.Fatalf("epoll_ctl %d: %v", fd, err)
		}
	}
	wait := func() map[int32]uint32 {
		evs := make([]syscall.EpollEvent, 4)
		for {
			n, err := syscall.EpollWait(ep, evs, 10_000)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n < 1 {
				t.Fatalf("epoll_wait: %d %v", n, err)
			}
			got := map[int32]uint32{}
			for _, ev := range evs[:n] {
				got[ev.Fd] = ev.Events
			}
			return got
		}
	}
	a.TrySend(libipc.Message{Data: []byte("ping")}) // echoed back
	if got := wait(); got[int32(chfd)]&syscall.EPOLLIN == 0 || got[int32(pidfd)] != 0 {
		t.Fatalf("woke for %v, want the channel %d alone", got, chfd)
	}
	a.Recv(ctxT(t))
	cmd.Process.Kill()
	// The child's death: its process descriptor, and the channel's hang-up.
	for deadline := time.Now().Add(wait10s); ; {
		got := wait()
		if got[int32(pidfd)]&syscall.EPOLLIN != 0 {
			break
		}
		if got[int32(chfd)]&syscall.EPOLLHUP == 0 || time.Now().After(deadline) {
			t.Fatalf("woke for %v, want the process %d", got, pidfd)
		}
		time.Sleep(5 * time.Millisecond) // the hang-up came first: the exit follows
	}
	cmd.Wait()
}

// child runs a child role on descriptor 3 and returns the exit status.
func child(role string) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "ipctest child %s: "+format+"\n", append([]any{role}, args...)...)
		return 1
	}
	ctx := context.Background()
	if role == "callsrv" || role == "defersrv" || role == "diesrv" {
		// Raw calls on descriptor 3, blocking (the parent made the
		// channel non-blocking, and the flag belongs to the channel end).
		if err := syscall.SetNonblock(3, false); err != nil {
			return fail("%v", err)
		}
		return rawServer(role, fail)
	}
	ep, err := libipc.KernelEndpointFromFd(3)
	if err != nil {
		return fail("%v", err)
	}
	switch role {
	case "shm":
		m, err := ep.Recv(ctx)
		if err != nil || len(m.Caps) != 1 {
			return fail("recv: %v", err)
		}
		h, ok := m.Caps[0].(*libipc.KernelHandle)
		if !ok {
			return fail("cap is a %T", m.Caps[0])
		}
		mem, err := syscall.Mmap(h.Fd(), 4096, 8192, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			return fail("mmap: %v", err)
		}
		if got := string(mem[5000-4096 : 5000-4096+21]); got != "written by the parent" {
			return fail("child reads %q", got)
		}
		copy(mem[9000-4096:], "written by the child")
		syscall.Munmap(mem)
		h.Close()
		if err := ep.Send(ctx, libipc.Message{Data: []byte("done")}); err != nil {
			return fail("send: %v", err)
		}
		ep.Recv(ctx) // until the parent closes
		return 0
	case "echo":
		for {
			m, err := ep.Recv(ctx)
			if err != nil {
				return fail("recv: %v", err)
			}
			if string(m.Data) == "bye" {
				return 0
			}
			if err := ep.Send(ctx, m); err != nil {
				return fail("send: %v", err)
			}
		}
	case "libipcsrv":
		mux := libipc.NewMux()
		libipc.Handle(mux, opEcho, func(r *libipc.Request, req *echoReq) (*echoReq, error) {
			return &echoReq{Text: req.Text}, nil
		})
		libipc.Handle(mux, opSum, func(r *libipc.Request, req *sumReq) (*sumResp, error) {
			if len(req.Numbers) == 0 {
				return nil, fmt.Errorf("nothing to add: %w", libipc.ErrInvalid)
			}
			s := 0
			for _, n := range req.Numbers {
				s += n
			}
			return &sumResp{Sum: s}, nil
		})
		gone := make(chan struct{})
		mux.OnDisconnect(func(*libipc.Conn, error) { close(gone) })
		srv := libipc.NewServer(mux)
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { srv.Serve(sctx); close(done) }()
		srv.Accept(ep)
		<-gone
		cancel()
		<-done
		return 0
	}
	return fail("unknown role")
}

// rawServer answers kernel calls on descriptor 3 with the raw calls:
// callsrv replies at once, defersrv holds the first call's reply while
// it answers the second, diesrv exits holding a reply.
func rawServer(role string, fail func(string, ...any) int) int {
	buf := make([]byte, abi.MaxMessageBytes)
	var held []int
	for {
		n, _, rfd, err := libipc.KRecv(3, buf, nil, abi.NoDeadline)
		if err == syscall.ECONNRESET {
			return 0
		}
		if err != nil {
			return fail("recv: %v", err)
		}
		if rfd < 0 {
			return fail("a message without a reply capability")
		}
		switch role {
		case "callsrv":
			if err := libipc.KReply(rfd, append([]byte("R"), buf[:n]...), nil); err != nil {
				return fail("reply: %v", err)
			}
		case "diesrv":
			return 0 // with the reply unanswered
		case "defersrv":
			held = append(held, rfd)
			if len(held) == 1 {
				continue
			}
			// Answer the second, then the first.
			if err := libipc.KReply(held[1], []byte("answer to "+string(buf[:n])), nil); err != nil {
				return fail("reply second: %v", err)
			}
			if err := libipc.KReply(held[0], []byte("answer to first"), nil); err != nil {
				return fail("reply first: %v", err)
			}
			held = nil
		}
	}
}
