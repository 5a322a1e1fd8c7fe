// Command init is armos's first process: it starts the system's services
// and applications, hands each a bootstrap channel, connects clients to
// services by name, restarts services that die, and reports every exit.
//
// Usage (the kernel starts it from its command line: "-- init ARGS"):
//
//	init [-conf FILE] [-start NAMES] [-exit] [ENTRY...]
//
// What to start comes from a small configuration file in the boot image
// (-conf, default /etc/init.conf) and from the command line: each ENTRY is
// one more configuration line with its words joined by commas, e.g.
// "app,ping,/bin/ping,-c,3,10.0.2.2". -start keeps only the named entries
// (comma-separated). With -exit, init stops the services and exits once
// every app has ended (the kernel then powers off: what tests want);
// without it, it runs for ever, as an operating system's init does.
//
// Configuration lines (# starts a comment):
//
//	service NAME [device=SEL...] [console] [standby] PATH [ARGS...]   a server: restarted when it dies
//	app NAME [device=SEL...] [console] PATH [ARGS...]       an application: run once, its exit reported
//
// Entries start in file order. Every process gets descriptor 3, its end of
// a bootstrap channel to init, named by ARMOS_BOOTSTRAP=3 in its
// environment; libipc.Bootstrap speaks the protocol (Register a service
// name, Connect to one). device=SEL gives a driver a device (docs/devices.md):
// SEL is a kind (net, blk, rng, ...: the first such device not taken) or
// the address of the device's registers (0x0a003e00). init opens each
// device once, when it first starts the entry, keeps it, and passes it to
// every incarnation as descriptors 4, 5, ... named by ARMOS_DEVICES=4,5;
// the driver attaches them (libdev.FromEnv). No other process can reach
// the device. console gives the entry init's standard input, the serial
// console (the shell); others read /dev/null. standby keeps a spare
// incarnation of a service started ahead and waiting (ARMOS_STANDBY=1,
// libipc.AwaitTurn, NAME~ in ps): when the running one ends, the spare
// takes over at once instead of a new process starting, and another
// spare is started a moment later (docs/restart.md). Console lines:
//
//	init: started netd (pid 4101)
//	init: netd (pid 4101) exited with status 2
//	init: restarting netd in 100ms (restart 1)
//	init: echo (pid 4102) killed by signal 9
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"armos/libdev"
	"armos/libipc"
	"armos/libsys"
)

// Restart policy: a service that ends after running stableAfter or longer
// (a crash, a kill, an operator's restart) is started again at once, so its
// clients wait the least; one that ends sooner is started again after a
// delay that begins at minBackoff and doubles at each consecutive quick end,
// up to maxBackoff — a crash loop is slowed down and reported, never run
// thousands of times a second.
var (
	minBackoff  = 50 * time.Millisecond
	maxBackoff  = 10 * time.Second
	stableAfter = time.Second
)

// entry is one line of the configuration.
type entry struct {
	service bool
	name    string
	devices []string // device=SEL options: what the driver is given
	console bool     // the console option: its standard input is the console (the serial shell)
	standby bool     // the standby option: a spare incarnation waits to take over
	argv    []string
}

// parseConfig reads configuration lines; errors name the line.
func parseConfig(r io.Reader, source string) ([]entry, error) {
	var out []entry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		e, err := parseEntry(f)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// parseEntry parses the words of one entry.
func parseEntry(f []string) (entry, error) {
	if len(f) < 3 {
		return entry{}, fmt.Errorf("want KIND NAME [device=SEL...] PATH [ARGS...], got %q", strings.Join(f, " "))
	}
	var e entry
	switch f[0] {
	case "service":
		e.service = true
	case "app":
	default:
		return entry{}, fmt.Errorf("unknown kind %q (service or app)", f[0])
	}
	e.name, f = f[1], f[2:]
	for len(f) > 0 && (strings.HasPrefix(f[0], "device=") || f[0] == "console" || f[0] == "standby") {
		switch f[0] {
		case "console":
			e.console = true
			f = f[1:]
			continue
		case "standby":
			if !e.service {
				return entry{}, fmt.Errorf("%s: standby is for services", e.name)
			}
			e.standby = true
			f = f[1:]
			continue
		}
		sel := strings.TrimPrefix(f[0], "device=")
		if _, err := libdev.Selector(sel); err != nil {
			return entry{}, fmt.Errorf("%s: %w", e.name, err)
		}
		e.devices = append(e.devices, sel)
		f = f[1:]
	}
	if len(f) == 0 {
		return entry{}, fmt.Errorf("%s: no program to start", e.name)
	}
	e.argv = f
	return e, nil
}

// child is one started entry.
type child struct {
	e       entry
	cmd     *exec.Cmd
	conn    *libipc.Conn
	started time.Time
	done    chan struct{} // closed when it has ended

	// A standby incarnation (guarded by initd.mu): spare until it takes
	// over; turn is its InitStandby request, answered then; handover is
	// the restart number to answer with at once if it takes over before
	// asking.
	spare    bool
	turn     *libipc.Request
	handover int
	handled  bool // its end was handled (initd.ended)
}

// initd is init's state.
type initd struct {
	ctx context.Context

	mu       sync.Mutex
	services map[string]*child            // registered names
	waiting  map[string][]*libipc.Request // Connect{Wait} until registered
	children map[*child]bool              // live ones
	backoff  map[string]time.Duration     // next restart delay per entry
	restarts map[string]int
	devices  map[string][]*os.File // per entry: its devices, opened once
	spares   map[string]*child     // per entry: its standby incarnation
	spareing map[string]bool       // per entry: a standby is being started
	spareOff map[string]time.Duration
	stopping bool // stopAll began: nothing restarts
	apps     sync.WaitGroup
	order    map[string]int // entry name -> its place in the configuration (stopAll goes backwards)
}

func main() {
	conf := flag.String("conf", "/etc/init.conf", "configuration file")
	only := flag.String("start", "", "start only these entries (comma-separated names)")
	exit := flag.Bool("exit", false, "stop the services and exit when every app has ended")
	flag.Parse()
	entries, err := loadEntries(*conf, flag.Args(), *only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	d := &initd{ctx: ctx, services: map[string]*child{}, waiting: map[string][]*libipc.Request{},
		children: map[*child]bool{}, backoff: map[string]time.Duration{}, restarts: map[string]int{},
		devices: map[string][]*os.File{}, spares: map[string]*child{}, spareing: map[string]bool{},
		spareOff: map[string]time.Duration{}, order: map[string]int{}}
	for i, e := range entries {
		d.order[e.name] = i
	}
	for _, e := range entries {
		if !e.service {
			d.apps.Add(1)
		}
		if err := d.start(e); err != nil {
			fmt.Printf("init: cannot start %s: %v\n", e.name, err)
			if !e.service {
				d.apps.Done()
			} else {
				d.scheduleRestart(e, "")
			}
			continue
		}
		d.scheduleSpare(e, spareDelay)
	}
	appsDone := make(chan struct{})
	go func() { d.apps.Wait(); close(appsDone) }()
	if *exit {
		select {
		case <-appsDone:
		case <-ctx.Done():
		}
	} else {
		<-ctx.Done()
	}
	d.stopAll()
}

// loadEntries reads the configuration file (a missing default file is
// an empty configuration), adds the command-line entries, and keeps only
// the names in only (if given).
func loadEntries(conf string, extra []string, only string) ([]entry, error) {
	var entries []entry
	f, err := os.Open(conf)
	switch {
	case err == nil:
		entries, err = parseConfig(f, conf)
		f.Close()
		if err != nil {
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, err
	}
	for _, x := range extra {
		e, err := parseEntry(strings.Split(x, ","))
		if err != nil {
			return nil, fmt.Errorf("command line %q: %w", x, err)
		}
		entries = append(entries, e)
	}
	if only == "" {
		return entries, nil
	}
	keep := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		keep[strings.TrimSpace(n)] = true
	}
	var out []entry
	for _, e := range entries {
		if keep[e.name] {
			out = append(out, e)
			delete(keep, e.name)
		}
	}
	for n := range keep {
		return nil, fmt.Errorf("-start: no entry named %q", n)
	}
	return out, nil
}

// entryDevices returns entry e's devices, opening them the first time.
func (d *initd) entryDevices(e entry) ([]*os.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fs, ok := d.devices[e.name]; ok || len(e.devices) == 0 {
		return fs, nil
	}
	var fs []*os.File
	for _, s := range e.devices {
		sel, err := libdev.Selector(s)
		if err == nil {
			var f *os.File
			if f, err = libdev.Open(sel); err == nil {
				fs = append(fs, f)
				continue
			}
		}
		for _, f := range fs {
			f.Close()
		}
		return nil, fmt.Errorf("device %s: %w", s, err)
	}
	d.devices[e.name] = fs
	return fs, nil
}

// start starts entry e with a fresh bootstrap channel (and its devices)
// and says so.
func (d *initd) start(e entry) error {
	pid, err := d.startQuiet(e, false)
	if err == nil {
		fmt.Printf("init: started %s (pid %d)\n", e.name, pid)
	}
	return err
}

// startQuiet is start without the line: it returns the new pid. A spare
// is a standby incarnation (StandbyEnv).
func (d *initd) startQuiet(e entry, spare bool) (int, error) {
	devs, err := d.entryDevices(e)
	if err != nil {
		return 0, err
	}
	mine, theirs, err := libipc.NewKernelPair()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(e.argv[0], e.argv[1:]...)
	d.mu.Lock()
	restarts := d.restarts[e.name]
	d.mu.Unlock()
	// RestartEnv tells a restarted service it is one (netd then gives
	// its old clients' ports back to them first).
	cmd.Env = append(os.Environ(), libipc.BootstrapEnv+"=3", fmt.Sprintf("%s=%d", libipc.RestartEnv, restarts))
	if spare {
		cmd.Env = append(cmd.Env, libipc.StandbyEnv+"=1")
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	if e.console {
		cmd.Stdin = os.Stdin // what is typed on the serial console
	}
	// theirs's own file: a second os.File on the same number would close
	// it again from a finalizer, after the number was reused (it once
	// closed a sibling's bootstrap channel after hundreds of restarts).
	cmd.ExtraFiles = append([]*os.File{theirs.File()}, devs...)
	if len(devs) > 0 {
		var fds []string
		for i := range devs {
			fds = append(fds, fmt.Sprint(4+i))
		}
		cmd.Env = append(cmd.Env, libdev.EnvDevices+"="+strings.Join(fds, ","))
	}
	err = cmd.Start()
	theirs.Close() // the child has its copy
	if err != nil {
		mine.Close()
		return 0, err
	}
	c := &child{e: e, cmd: cmd, conn: libipc.NewConn(mine), started: time.Now(), done: make(chan struct{}), spare: spare}
	d.mu.Lock()
	d.children[c] = true
	if spare {
		d.spares[e.name] = c
	}
	d.mu.Unlock()
	go d.serve(c)
	go d.wait(c)
	return cmd.Process.Pid, nil
}

// serve answers child c's bootstrap requests until its channel closes.
func (d *initd) serve(c *child) {
	for {
		r, err := c.conn.Recv(context.Background())
		if err != nil {
			d.channelClosed(c)
			return
		}
		d.handle(c, r)
	}
}

// handle answers one bootstrap request.
func (d *initd) handle(c *child, r *libipc.Request) {
	switch r.Op {
	case libipc.InitRegister:
		var n libipc.InitName
		if err := r.Decode(&n); err != nil {
			r.Fail(err)
			return
		}
		d.mu.Lock()
		if c.spare {
			d.mu.Unlock()
			r.Fail(fmt.Errorf("init: a standby %s registers nothing before its turn (libipc.AwaitTurn): %w", c.e.name, libipc.ErrPermission))
			return
		}
		if owner := d.services[n.Name]; owner != nil && owner != c {
			d.mu.Unlock()
			r.Fail(fmt.Errorf("init: %q is served by %s (pid %d): %w", n.Name, owner.e.name, owner.cmd.Process.Pid, libipc.ErrExists))
			return
		}
		d.services[n.Name] = c
		waiting := d.waiting[n.Name]
		delete(d.waiting, n.Name)
		d.mu.Unlock()
		r.Reply(&libipc.Empty{})
		for _, w := range waiting {
			d.connect(w, n.Name, true)
		}
	case libipc.InitConnect:
		var n libipc.InitName
		if err := r.Decode(&n); err != nil {
			r.Fail(err)
			return
		}
		d.connect(r, n.Name, n.Wait)
	case libipc.InitStandby:
		d.mu.Lock()
		switch {
		case c.handover > 0: // it took over before asking
			n := c.handover
			c.handover = 0
			d.mu.Unlock()
			r.Reply(&libipc.InitStandbyResp{Restart: n})
		case c.spare && c.turn == nil:
			c.turn = r // answered when it takes over
			d.mu.Unlock()
		default:
			d.mu.Unlock()
			r.Fail(fmt.Errorf("init: %s (pid %d) is not a waiting standby: %w", c.e.name, c.cmd.Process.Pid, libipc.ErrInvalid))
		}
	case libipc.InitServices:
		var resp libipc.InitServicesResp
		d.mu.Lock()
		for name, s := range d.services {
			resp.Services = append(resp.Services, libipc.InitService{Name: name, Pid: s.cmd.Process.Pid})
		}
		d.mu.Unlock()
		r.Reply(&resp)
	default:
		if r.Kind == libipc.KindRequest {
			r.Fail(fmt.Errorf("init: op %v: %w", r.Op, libipc.ErrUnknownOp))
		}
		for _, h := range r.Caps {
			h.Close()
		}
	}
}

// connect answers a Connect for name: a new channel, one end to the
// service (InitAccept), the other in the reply. Unregistered: ErrNotFound,
// or with wait the request waits for the registration.
func (d *initd) connect(r *libipc.Request, name string, wait bool) {
	d.mu.Lock()
	s := d.services[name]
	if s == nil {
		if wait {
			d.waiting[name] = append(d.waiting[name], r)
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		r.Fail(fmt.Errorf("init: no service %q: %w", name, libipc.ErrNotFound))
		return
	}
	d.mu.Unlock()
	client, server, err := libipc.NewKernelPair()
	if err != nil {
		r.Fail(err)
		return
	}
	if err := s.conn.SendCaps(d.ctx, libipc.InitAccept, &libipc.InitName{Name: name}, []libipc.Cap{server}); err != nil {
		server.Close()
		client.Close()
		if wait && errors.Is(err, libipc.ErrPeerClosed) {
			// The service is ending (its channel closed before init
			// saw it go): a ConnectWait waits for its restart, as for a
			// name not registered, or goes to a successor already there.
			d.mu.Lock()
			if now := d.services[name]; now != nil && now != s {
				d.mu.Unlock()
				d.connect(r, name, wait)
				return
			}
			d.waiting[name] = append(d.waiting[name], r)
			d.mu.Unlock()
			return
		}
		r.Fail(fmt.Errorf("init: service %q: %w", name, err))
		return
	}
	r.Reply(&libipc.Empty{}, client)
}

// wait reports child c's end, unregisters its services and restarts it
// if it is a service.
func (d *initd) wait(c *child) {
	err := c.cmd.Wait()
	c.conn.Close()
	d.ended(c, describeExit(err))
	d.mu.Lock()
	delete(d.children, c)
	d.mu.Unlock()
	close(c.done)
}

// channelClosed is called when service c's bootstrap channel has closed:
// if the kernel says the process is ending (a process's descriptors close
// as it ends, before the kernel has freed its memory and Wait returns),
// its end is handled now — its successor does not wait for the
// predecessor's teardown. (A service that closes the channel and lives on
// is left to Wait.)
func (d *initd) channelClosed(c *child) {
	d.mu.Lock()
	early := c.e.service && !d.stopping
	d.mu.Unlock()
	if !early {
		return
	}
	if how, ok := endingNow(c.cmd.Process.Pid); ok {
		d.ended(c, how)
	}
}

// endingNow reports whether process pid is ending or has ended, and how.
func endingNow(pid int) (string, bool) {
	ps, err := libsys.Processes()
	if err != nil {
		return "", false
	}
	for _, p := range ps {
		if p.Pid == pid && p.State != "running" {
			ws := syscall.WaitStatus(p.ExitStatus)
			if p.Killed && ws.Signaled() {
				return fmt.Sprintf("killed by signal %d", ws.Signal()), true
			}
			return fmt.Sprintf("exited with status %d", ws.ExitStatus()), true
		}
	}
	return "", false
}

// ended handles child c's end once (from channelClosed or wait): its
// names are unregistered, a service is restarted (or its standby takes
// over), a standby that ended before its turn is replaced.
func (d *initd) ended(c *child, how string) {
	d.mu.Lock()
	if c.handled {
		d.mu.Unlock()
		return
	}
	c.handled = true
	if c.spare { // a standby ended before its turn: another, after a backoff
		if d.spares[c.e.name] == c {
			delete(d.spares, c.e.name)
		}
		stopping := d.stopping || d.ctx.Err() != nil
		delay := d.spareOff[c.e.name]
		d.spareOff[c.e.name] = nextBackoff(delay)
		d.mu.Unlock()
		fmt.Printf("init: standby %s (pid %d) %s\n", c.e.name, c.cmd.Process.Pid, how)
		if !stopping {
			d.scheduleSpare(c.e, max(delay, spareDelay))
		}
		return
	}
	for name, s := range d.services {
		if s == c {
			delete(d.services, name)
		}
	}
	stopping := d.stopping || d.ctx.Err() != nil
	d.mu.Unlock()
	ended := fmt.Sprintf("init: %s (pid %d) %s\n", c.e.name, c.cmd.Process.Pid, how)
	if !c.e.service || stopping {
		fmt.Print(ended)
		if !c.e.service {
			d.apps.Done()
		}
		return
	}
	d.mu.Lock()
	if time.Since(c.started) >= stableAfter {
		d.backoff[c.e.name] = 0
	}
	d.mu.Unlock()
	d.scheduleRestart(c.e, ended)
}

// nextBackoff is the delay after delay for a service that keeps ending
// quickly: 0 (at once), minBackoff, then doubling up to maxBackoff.
func nextBackoff(delay time.Duration) time.Duration {
	return min(max(2*delay, minBackoff), maxBackoff)
}

// scheduleRestart restarts service e after its backoff, which doubles;
// ended (printed first) says how the last incarnation ended. Without a
// backoff the new incarnation starts before anything is printed: the
// console is slow, and a restart's downtime is what clients wait.
func (d *initd) scheduleRestart(e entry, ended string) {
	d.mu.Lock()
	delay := d.backoff[e.name]
	d.backoff[e.name] = nextBackoff(delay)
	d.restarts[e.name]++
	n := d.restarts[e.name]
	stopping := d.stopping
	d.mu.Unlock()
	restarting := fmt.Sprintf("init: restarting %s in %v (restart %d)\n", e.name, delay, n)
	if delay == 0 && !stopping && d.ctx.Err() == nil {
		d.bringUp(e, n, ended+restarting)
		return
	}
	fmt.Print(ended, restarting)
	go func() {
		if !d.sleep(delay) {
			return
		}
		d.mu.Lock()
		stopping := d.stopping
		d.mu.Unlock()
		if !stopping {
			d.bringUp(e, n, "")
		}
	}()
}

// bringUp gives service e, as its restart n, to its standby if it has
// one, else to a new process, then prints before (held back until the new
// incarnation is on its way: the console is slow) and what happened, and
// schedules the next standby. A failed start is scheduled again.
func (d *initd) bringUp(e entry, n int, before string) {
	t0 := time.Now()
	var line string
	if pid, ok := d.takeOver(e, n); ok {
		line = fmt.Sprintf("init: standby %s (pid %d) took over\n", e.name, pid)
	} else if pid, err := d.startQuiet(e, false); err == nil {
		line = fmt.Sprintf("init: started %s (pid %d) in %.1f ms\n", e.name, pid, float64(time.Since(t0).Microseconds())/1000)
	} else {
		fmt.Print(before, fmt.Sprintf("init: cannot start %s: %v\n", e.name, err))
		d.scheduleRestart(e, "")
		return
	}
	fmt.Print(before, line)
	d.scheduleSpare(e, spareDelay)
}

// sleep waits delay; false if init is ending first.
func (d *initd) sleep(delay time.Duration) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// describeExit words how a process ended.
func describeExit(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exited with status 0"
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("killed by signal %d", ws.Signal())
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return "ended: " + err.Error()
}

// stopGrace is how long stopAll waits after SIGTERM before SIGKILL: a
// Go server prints its counters and exits in milliseconds; the margin is
// for loaded machines (two cores shared by several guests in CI). (The
// netd seen killed at one second had not taken its SIGTERM at all: a
// kernel bug, fixed in finishTrap, left it pending until a timer woke
// the thread it was sent to.)
const stopGrace = 3 * time.Second

// stopStep is how long stopAll waits for one child to end before it
// signals the one started before it (the rest of stopGrace is waited for
// all together).
const stopStep = 500 * time.Millisecond

// stopAll ends every child: SIGTERM, then SIGKILL after stopGrace. The
// children are signalled in the reverse order of the configuration, each
// given up to stopStep to end before the next is signalled: what started
// later may depend on what started before (dhcpc sends its RELEASE and
// clears netd's address through netd, which must still be there; resolved
// and the apps close their sockets in netd; netd needs its driver), so it
// stops first, as a machine shuts down in reverse dependency order.
func (d *initd) stopAll() {
	d.mu.Lock()
	d.stopping = true
	var live []*child
	for c := range d.children {
		live = append(live, c)
	}
	d.mu.Unlock()
	live = stopOrder(live, d.order)
	deadline := time.After(stopGrace + time.Duration(len(live))*stopStep)
	for _, c := range live {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(stopStep):
		}
	}
	for _, c := range live {
		select {
		case <-c.done:
		case <-deadline:
			c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// stopOrder sorts children for stopAll: the last entry of the
// configuration first (an entry's standby incarnation beside it), entries
// not in order (none expected) last.
func stopOrder(live []*child, order map[string]int) []*child {
	rank := func(c *child) int {
		if i, ok := order[c.e.name]; ok {
			return i
		}
		return -1
	}
	slices.SortStableFunc(live, func(a, b *child) int { return rank(b) - rank(a) })
	return live
}

// spareDelay is how long after a service (re)starts its next standby is
// started: out of the way of the start itself, ready long before the next
// end of a stable service (stableAfter).
var spareDelay = 300 * time.Millisecond

// scheduleSpare starts a standby incarnation of e after delay, unless e
// has no standby option, has one already or init is stopping.
func (d *initd) scheduleSpare(e entry, delay time.Duration) {
	if !e.standby {
		return
	}
	go func() {
		if !d.sleep(delay) {
			return
		}
		d.mu.Lock()
		if d.stopping || d.spares[e.name] != nil || d.spareing[e.name] {
			d.mu.Unlock()
			return
		}
		d.spareing[e.name] = true
		d.mu.Unlock()
		pid, err := d.startQuiet(e, true)
		d.mu.Lock()
		delete(d.spareing, e.name)
		d.mu.Unlock()
		if err != nil {
			fmt.Printf("init: cannot start a standby %s: %v\n", e.name, err)
			d.mu.Lock()
			off := nextBackoff(d.spareOff[e.name])
			d.spareOff[e.name] = off
			d.mu.Unlock()
			d.scheduleSpare(e, off)
			return
		}
		fmt.Printf("init: standby %s (pid %d) started\n", e.name, pid)
	}()
}

// takeOver hands service e, as its restart n, to its standby incarnation
// if one is there (and returns its pid): its InitStandby is answered now,
// or at once when it asks.
func (d *initd) takeOver(e entry, n int) (int, bool) {
	d.mu.Lock()
	s := d.spares[e.name]
	if s == nil {
		d.mu.Unlock()
		return 0, false
	}
	delete(d.spares, e.name)
	s.spare = false
	s.started = time.Now()
	d.spareOff[e.name] = 0
	turn := s.turn
	s.turn = nil
	if turn == nil {
		s.handover = n
	}
	d.mu.Unlock()
	if turn != nil {
		// If it has just gone, its end is handled as the service's.
		_ = turn.Reply(&libipc.InitStandbyResp{Restart: n})
	}
	return s.cmd.Process.Pid, true
}
