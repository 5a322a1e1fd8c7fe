package libipc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// The bootstrap protocol between init and the processes it starts. init
// gives each process one end of a kernel channel as a descriptor and names
// it in the environment (BootstrapEnv); over it the process, as a client
// of init:
//
//	InitRegister {Name}          serve Name: init sends InitAccept for each client
//	InitConnect  {Name, Wait}    a new endpoint connected to service Name (the
//	                             reply's one cap); Wait: until Name is registered
//	InitServices {}              the registered names and their pids
//	InitStandby  {}              (a standby incarnation) wait until init hands it
//	                             the service: the reply, InitStandbyResp, says
//	                             which restart it is
//
// and init, on the same connection, sends the service one-way
// InitAccept {Name} messages carrying the server end of each new connection.
// A service that dies is unregistered; clients that Connect with Wait after
// a restart reach the new instance (libsocket's reconnection does that).

// BootstrapEnv names the environment variable that holds the descriptor of
// a process's bootstrap channel to init.
const BootstrapEnv = "ARMOS_BOOTSTRAP"

// RestartEnv names the environment variable in which init tells a service
// how many times it was restarted (0: its first start).
const RestartEnv = "ARMOS_RESTART"

// StandbyEnv is set to "1" in the environment of a standby incarnation: a
// service's spare, started ahead by init (the standby option) so that a
// restart does not wait for a process and its runtime to start. It must
// call AwaitTurn before it registers or opens anything.
const StandbyEnv = "ARMOS_STANDBY"

// Ops of the bootstrap protocol.
const (
	InitRegister Op = 1
	InitConnect  Op = 2
	InitAccept   Op = 3
	InitServices Op = 4
	InitStandby  Op = 5
)

// InitStandbyResp is the reply to InitStandby: the service is the caller's
// now, as restart number Restart.
type InitStandbyResp struct {
	Restart int
}

// InitName is the body of InitRegister, InitConnect and InitAccept.
type InitName struct {
	Name string
	Wait bool `msgpack:",omitempty"`
}

// InitService is one entry of InitServicesResp.
type InitService struct {
	Name string
	Pid  int
}

// InitServicesResp is the reply to InitServices.
type InitServicesResp struct {
	Services []InitService
}

// InitClient is a process's connection to init: a Dialer (Connect by
// name) and a Registrar (serve a name).
type InitClient struct {
	conn *Conn

	mu      sync.Mutex
	accepts map[string]func(Endpoint)
	done    chan struct{}
}

var (
	bootOnce   sync.Once
	bootClient *InitClient
	bootErr    error
)

// Bootstrap returns the process's connection to init (the same one on
// every call), or an error if init did not start this process.
func Bootstrap() (*InitClient, error) {
	bootOnce.Do(func() {
		s, ok := os.LookupEnv(BootstrapEnv)
		if !ok {
			bootErr = fmt.Errorf("libipc: no bootstrap channel (%s unset): not started by init: %w", BootstrapEnv, ErrNotFound)
			return
		}
		fd, err := strconv.Atoi(s)
		if err != nil || fd < 0 {
			bootErr = fmt.Errorf("libipc: %s=%q: %w", BootstrapEnv, s, ErrInvalid)
			return
		}
		ep, err := KernelEndpointFromFd(fd)
		if err != nil {
			bootErr = err
			return
		}
		bootClient = NewInitClient(ep)
	})
	return bootClient, bootErr
}

// NewInitClient speaks the bootstrap protocol on ep (Bootstrap's
// endpoint, or an in-memory one in tests).
func NewInitClient(ep Endpoint) *InitClient {
	c := &InitClient{conn: NewConn(ep), accepts: map[string]func(Endpoint){}, done: make(chan struct{})}
	go c.loop()
	return c
}

// loop takes init's InitAccept messages and hands their endpoints to the
// registered accept functions.
func (c *InitClient) loop() {
	defer close(c.done)
	for {
		r, err := c.conn.Recv(context.Background())
		if err != nil {
			return
		}
		var n InitName
		if r.Op != InitAccept || r.Decode(&n) != nil || len(r.Caps) != 1 {
			closeAll(r.Caps)
			if r.Kind == KindRequest {
				r.Fail(fmt.Errorf("libipc: init client: unexpected %v: %w", r.Op, ErrInvalid))
			}
			continue
		}
		ep, ok := r.Caps[0].(Endpoint)
		c.mu.Lock()
		accept := c.accepts[n.Name]
		c.mu.Unlock()
		if !ok || accept == nil {
			closeAll(r.Caps)
			continue
		}
		accept(ep)
	}
}

// Register implements Registrar: init will hand accept the server end of
// every connection to name. A failure to register (init gone, the name
// taken by another process) is returned by RegisterErr; Register itself
// panics on it only through ServeNamed's contract of no error, so use
// RegisterErr where the error matters.
func (c *InitClient) Register(name string, accept func(Endpoint)) {
	_ = c.RegisterErr(context.Background(), name, accept)
}

// RegisterErr registers name and reports whether init accepted it.
func (c *InitClient) RegisterErr(ctx context.Context, name string, accept func(Endpoint)) error {
	c.mu.Lock()
	c.accepts[name] = accept
	c.mu.Unlock()
	if err := c.conn.Call(ctx, InitRegister, &InitName{Name: name}, nil); err != nil {
		c.mu.Lock()
		delete(c.accepts, name)
		c.mu.Unlock()
		return fmt.Errorf("libipc: register %q with init: %w", name, err)
	}
	return nil
}

// Connect implements Dialer: a new endpoint connected to service name, or
// an error wrapping ErrNotFound if nobody serves it.
func (c *InitClient) Connect(ctx context.Context, name string) (Endpoint, error) {
	return c.connect(ctx, name, false)
}

// ConnectWait is Connect that waits until name is registered (a service
// starting, or restarting after a crash).
func (c *InitClient) ConnectWait(ctx context.Context, name string) (Endpoint, error) {
	return c.connect(ctx, name, true)
}

func (c *InitClient) connect(ctx context.Context, name string, wait bool) (Endpoint, error) {
	caps, err := c.conn.CallCaps(ctx, InitConnect, &InitName{Name: name, Wait: wait}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("libipc: connect %q: %w", name, err)
	}
	if len(caps) != 1 {
		closeAll(caps)
		return nil, fmt.Errorf("libipc: connect %q: init sent %d caps: %w", name, len(caps), ErrMalformed)
	}
	ep, ok := caps[0].(Endpoint)
	if !ok {
		caps[0].Close()
		return nil, fmt.Errorf("libipc: connect %q: not an endpoint: %w", name, ErrMalformed)
	}
	return ep, nil
}

// Services lists the registered services.
func (c *InitClient) Services(ctx context.Context) ([]InitService, error) {
	var resp InitServicesResp
	if err := c.conn.Call(ctx, InitServices, &Empty{}, &resp); err != nil {
		return nil, err
	}
	return resp.Services, nil
}

// Close ends the connection to init (the process's services are
// unregistered).
func (c *InitClient) Close() error {
	err := c.conn.Close()
	<-c.done
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// Done is closed when the channel to init has ended (init gone, Close, or
// the channel lost): no name can be registered or reached through it
// again. A server should then exit, so that init (if alive) starts it
// afresh with a new channel, rather than run on unreachable.
func (c *InitClient) Done() <-chan struct{} { return c.done }

// ExitWhenGone ends the process (status 1, naming it on stderr) if the
// channel to init ends before ctx does: what a server started by init
// runs in a goroutine, so that losing the channel means a restart with a
// new one rather than running on unreachable.
func (c *InitClient) ExitWhenGone(ctx context.Context, name string) {
	select {
	case <-c.done:
		if ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "%s: the channel to init is gone: exiting, to be started again\n", name)
			os.Exit(1)
		}
	case <-ctx.Done():
	}
}

// StartService is how a service process started by init begins: a
// context that SIGTERM (or an interrupt) ends; for a standby incarnation,
// the wait for its turn (AwaitTurn); the channel to init (Bootstrap); and
// a goroutine that ends the process if that channel goes (ExitWhenGone,
// naming it name). It returns a nil InitClient and no error when SIGTERM
// came while the standby waited: the process ends quietly. stop, never
// nil, releases the signals.
func StartService(name string) (ctx context.Context, stop context.CancelFunc, boot *InitClient, err error) {
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if _, _, err := AwaitTurn(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx, stop, nil, nil
		}
		return ctx, stop, nil, err
	}
	if boot, err = Bootstrap(); err != nil {
		return ctx, stop, nil, fmt.Errorf("%w: %s runs under armos's init", err, name)
	}
	go boot.ExitWhenGone(ctx, name)
	return ctx, stop, boot, nil
}

// AwaitTurn returns which incarnation of its service the process is (0:
// the first start; n: the nth restart) and whether it was a standby. A
// standby incarnation (StandbyEnv) first waits, named NAME~ in the process
// list, until init hands it the service — when the running incarnation
// ends — and then takes its name back. ctx ending (SIGTERM) ends the wait
// with ctx's error.
func AwaitTurn(ctx context.Context) (restart int, standby bool, err error) {
	if os.Getenv(StandbyEnv) != "1" {
		n, _ := strconv.Atoi(os.Getenv(RestartEnv))
		return n, false, nil
	}
	boot, err := Bootstrap()
	if err != nil {
		return 0, true, err
	}
	name := processName()
	if name != "" {
		setProcessName(name + "~")
	}
	var resp InitStandbyResp
	err = boot.conn.Call(ctx, InitStandby, &Empty{}, &resp)
	if name != "" {
		setProcessName(name)
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, true, ctx.Err()
		}
		return 0, true, fmt.Errorf("libipc: standby: %w", err)
	}
	return resp.Restart, true, nil
}

// prctl options (include/uapi/linux/prctl.h).
const (
	prSetName = 15
	prGetName = 16
)

// processName is the name in the process list (PR_GET_NAME).
func processName() string {
	var b [16]byte
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prGetName, uintptr(unsafe.Pointer(&b[0])), 0); e != 0 {
		return ""
	}
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b[:])
}

// setProcessName renames the process (PR_SET_NAME; at most 15 bytes).
func setProcessName(name string) {
	var b [16]byte
	copy(b[:15], name)
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetName, uintptr(unsafe.Pointer(&b[0])), 0)
}
