// Command virtioconsd is armos's virtio console driver: a user-space
// process that owns one virtio-mmio console device and offers its first
// port as a byte stream out of the guest — to a file on the host when
// QEMU's chardev is one (netd's packet capture writes its pcap stream
// there). Clients speak consproto (servers/virtioconsd/consproto).
//
// Usage (started by init, which grants it the device it names):
//
//	service virtioconsd device=console /bin/virtioconsd [-name hvc0] [-queue 128] [-stall 10s]
//
// with QEMU given the device and a file for it:
//
//	-device virtio-serial-device -chardev file,id=hvc0,path=FILE -device virtconsole,chardev=hvc0
//
// The device comes from init (ARMOS_DEVICES, libdev.FromEnv) or, for
// tests started from the kernel command line with grant:console, from
// grant -grant. virtioconsd registers NAME with init's name service and
// serves consproto on it: an OpWrite is answered once all its bytes are
// in the device's transmit ring (a writer that waits for each answer
// goes at the device's pace), writes are carried whole and in arrival
// order (one client's stay in its order; two clients' interleave at
// OpWrite boundaries); OpInfo tells the stream's offset (bytes handed to
// the device since boot — since this incarnation started, after a
// restart, which its Driver text says). A write that finds the ring full waits for the
// device, at most -stall without progress; then it fails. Each client may
// have a few writes waiting (maxPending); more are refused, so memory
// stays bounded whatever clients do. Input from the host is counted and
// dropped. NAME.admin answers adminproto.OpReport with the counters,
// which virtioconsd also prints when stopped (SIGTERM), after waiting
// briefly for the device to finish what it holds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"armos/libipc"
	"armos/libsys"
	"armos/servers/virtioconsd/consproto"
	"armos/servers/virtionetd/virtio"
	"armos/servers/virtionetd/virtio/granted"
)

// readyPrefix starts the line virtioconsd prints once it serves.
const readyPrefix = "virtioconsd: ready"

// maxPending bounds the writes one client may have waiting for the
// device (consproto.MaxWrite bytes each); a client that waits for each
// answer has one.
const maxPending = 8

// pollEvery is how often a waiting writer looks at the ring without an
// interrupt (one lost, or a device that completes without interrupting).
const pollEvery = 50 * time.Millisecond

// flushWait bounds the wait, when stopping, for the device to finish the
// bytes it holds.
const flushWait = 2 * time.Second

// startTrace is when main began (for the restart timeline).
var startTrace *libsys.Start

func main() {
	startTrace = libsys.StartTrace()
	name := flag.String("name", consproto.DefaultPort, "the port's name in init's name service (consproto.Dial)")
	grant := flag.Int("grant", 0, "the device's grant number when started from the kernel command line (grant:console)")
	queue := flag.Int("queue", virtio.DefaultConsoleQueue, "transmit ring entries, one 4 KiB buffer each (a power of two; QEMU's hold at most 128)")
	stall := flag.Duration("stall", 10*time.Second, "how long a write may wait for the device without progress before it fails")
	flag.Parse()
	if flag.NArg() > 0 || *stall <= 0 {
		fmt.Fprintln(os.Stderr, "virtioconsd: usage: virtioconsd [-name NAME] [-grant N] [-queue N] [-stall DURATION]")
		os.Exit(2)
	}
	if err := run(*name, *grant, *queue, *stall); err != nil {
		fmt.Fprintln(os.Stderr, "virtioconsd:", err)
		os.Exit(1)
	}
}

func run(name string, grant, queue int, stall time.Duration) error {
	// A standby incarnation waits in Start, before touching the device,
	// until init hands it the service; SIGTERM while waiting ends it
	// quietly.
	s, stop, err := granted.Start(startTrace, grant, "console")
	defer stop()
	if s == nil || err != nil {
		return err
	}
	ctx, dev := s.Ctx, s.Dev
	con, err := virtio.NewConsole(s.Regs, granted.AllocDMA, virtio.ConsoleConfig{QueueSize: queue})
	if err != nil {
		return err
	}
	driver := fmt.Sprintf("virtio-console, virtio-mmio v%d", con.Version())
	if s.Restart > 0 {
		// What an earlier incarnation carried is not known here.
		driver += fmt.Sprintf(" (restart %d: the offset counts from it)", s.Restart)
	}
	p := newPort(name, con, driver, stall)
	irq, err := dev.IRQ()
	if err != nil {
		con.Stop()
		return fmt.Errorf("interrupt: %w", err)
	}
	go granted.Interrupts(irq, "virtioconsd", p.service)
	writerDone := make(chan struct{})
	go func() { p.writer(ctx); close(writerDone) }()
	// Outside init (a smoke test from the kernel command line) there is
	// no name service: the device is up, and nobody can write to it.
	srv := libipc.NewServer(p.mux())
	go func() { _ = srv.Serve(ctx) }()
	if err := granted.Register(ctx, "virtioconsd", name, srv.Accept, p.report); errors.Is(err, granted.ErrNoInit) {
		fmt.Fprintf(os.Stderr, "virtioconsd: %v: nobody can write to the port\n", err)
	} else if err != nil {
		con.Stop()
		return err
	}
	info := dev.Info()
	s.Ready("virtioconsd", fmt.Sprintf("%s %s virtio-mmio v%d at %#x irq %d registers %s queue %d", readyPrefix, name,
		con.Version(), info.Base, info.IRQ, s.How, con.QueueSize()))
	<-ctx.Done()
	<-writerDone
	p.flush(flushWait)
	p.mu.Lock()
	con.Stop()
	p.mu.Unlock()
	p.report(os.Stdout)
	return nil
}

// job is one OpWrite waiting for the device.
type job struct {
	conn  *libipc.Conn
	data  []byte
	reply *libipc.Reply[consproto.Written]
}

// console is what a port needs of its device: a *virtio.Console (a
// simulated one in the tests).
type console interface {
	Write(b []byte) int // what fits in free buffers, never waiting
	Service() int       // after an interrupt: transmit buffers freed
	TxHeld() int        // buffers the device holds
	Counters() virtio.ConsoleCounters
	DMABytes() int
	Stop()
}

// port is the console's first port and its clients.
type port struct {
	name  string
	stall time.Duration

	mu    sync.Mutex // serialises the console
	con   console
	freed chan struct{} // a token after an interrupt freed transmit buffers

	qmu     sync.Mutex
	jobs    []*job               // waiting, in arrival order
	pending map[*libipc.Conn]int // by client: its jobs waiting or being written
	wake    chan struct{}        // a token when jobs were added
	offset  atomic.Uint64        // bytes handed to the device (consproto's Offset)
	driver  string               // consproto.Info.Driver

	// Counters beside the Console's.
	clients, writes, failed, refused, waited atomic.Uint64
}

// newPort serves con as the port name; driver describes it (consproto.Info).
func newPort(name string, con console, driver string, stall time.Duration) *port {
	return &port{name: name, stall: stall, con: con, freed: make(chan struct{}, 1),
		pending: map[*libipc.Conn]int{}, wake: make(chan struct{}, 1), driver: driver}
}

// mux is consproto's server side. Handlers run on the server's dispatch
// goroutine and never wait: OpWrite is queued for the writer goroutine,
// which answers it once the device has the bytes.
func (p *port) mux() *libipc.Mux {
	m := libipc.NewMux()
	m.OnConnect(func(*libipc.Conn) { p.clients.Add(1) })
	libipc.Handle(m, consproto.OpInfo, func(*libipc.Request, *consproto.Empty) (*consproto.Info, error) {
		return &consproto.Info{Offset: p.offset.Load(), Driver: p.driver}, nil
	})
	libipc.HandleDeferred(m, consproto.OpWrite, func(r *libipc.Request, w *consproto.Write, reply *libipc.Reply[consproto.Written]) {
		switch {
		case len(w.Data) > consproto.MaxWrite:
			p.refused.Add(1)
			_ = reply.Fail(fmt.Errorf("%s: a write of %d bytes, over %d: %w", p.name, len(w.Data), consproto.MaxWrite, libipc.ErrTooLarge))
		case len(w.Data) == 0:
			_ = reply.OK(&consproto.Written{Offset: p.offset.Load()})
		case !p.enqueue(&job{conn: r.Conn(), data: w.Data, reply: reply}):
			p.refused.Add(1)
			_ = reply.Fail(fmt.Errorf("%s: %d writes of this client already wait for the device: %w", p.name, maxPending, libipc.ErrBusy))
		}
	})
	return m
}

// enqueue queues j unless its client has maxPending writes waiting.
func (p *port) enqueue(j *job) bool {
	p.qmu.Lock()
	if p.pending[j.conn] >= maxPending {
		p.qmu.Unlock()
		return false
	}
	p.pending[j.conn]++
	p.jobs = append(p.jobs, j)
	p.qmu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// next takes the oldest waiting job; nil when ctx ends first.
func (p *port) next(ctx context.Context) *job {
	for {
		p.qmu.Lock()
		if len(p.jobs) > 0 {
			j := p.jobs[0]
			p.jobs[0] = nil
			p.jobs = p.jobs[1:]
			p.qmu.Unlock()
			return j
		}
		p.qmu.Unlock()
		select {
		case <-p.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

// done ends j: its client has one job fewer.
func (p *port) done(j *job) {
	p.qmu.Lock()
	if p.pending[j.conn]--; p.pending[j.conn] <= 0 {
		delete(p.pending, j.conn)
	}
	p.qmu.Unlock()
}

// writer hands the jobs to the device one at a time, in arrival order,
// and answers each, until ctx ends. A job of a client that has gone is
// still written: its bytes were sent, and a stream (a pcap file) stays
// whole.
func (p *port) writer(ctx context.Context) {
	for {
		j := p.next(ctx)
		if j == nil {
			return
		}
		p.writes.Add(1)
		n, err := p.write(ctx, j.data)
		if err != nil {
			p.failed.Add(1)
			_ = j.reply.Fail(fmt.Errorf("%s: %d of %d bytes taken: %w", p.name, n, len(j.data), err))
		} else {
			_ = j.reply.OK(&consproto.Written{N: n, Offset: p.offset.Load()})
		}
		p.done(j)
	}
}

// errStalled: the device took nothing for the stall time.
var errStalled = errors.New("the device took no bytes")

// write hands b to the device, waiting for free buffers when the ring is
// full: woken by the interrupt that frees them, or every pollEvery (the
// Console reclaims by itself when it runs short). It gives up when the
// device takes nothing for p.stall, or when ctx ends.
func (p *port) write(ctx context.Context, b []byte) (int, error) {
	done := 0
	progress := time.Now()
	var tick *time.Timer
	for {
		p.mu.Lock()
		n := p.con.Write(b[done:])
		p.mu.Unlock()
		if n > 0 {
			done += n
			p.offset.Add(uint64(n))
			progress = time.Now()
		}
		if done == len(b) {
			if tick != nil {
				tick.Stop()
			}
			return done, nil
		}
		if time.Since(progress) >= p.stall {
			return done, fmt.Errorf("%w for %v: %w", errStalled, p.stall, libipc.ErrTimeout)
		}
		p.waited.Add(1)
		if tick == nil {
			tick = time.NewTimer(pollEvery)
		} else {
			tick.Reset(pollEvery)
		}
		select {
		case <-p.freed:
		case <-tick.C:
		case <-ctx.Done():
			tick.Stop()
			return done, ctx.Err()
		}
	}
}

// service handles the device at an interrupt and wakes a waiting writer
// when buffers came free.
func (p *port) service() {
	p.mu.Lock()
	freed := p.con.Service()
	p.mu.Unlock()
	if freed > 0 {
		select {
		case p.freed <- struct{}{}:
		default:
		}
	}
}

// flush waits, at most d, for the device to finish the bytes it holds
// (so that stopping it loses none).
func (p *port) flush(d time.Duration) {
	end := time.Now().Add(d)
	for {
		p.mu.Lock()
		p.con.Service()
		held := p.con.TxHeld()
		p.mu.Unlock()
		if held == 0 || time.Now().After(end) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// report prints the counters.
func (p *port) report(w io.Writer) {
	p.mu.Lock()
	c := p.con.Counters()
	dma := p.con.DMABytes()
	held := p.con.TxHeld()
	p.mu.Unlock()
	fmt.Fprintf(w, "virtioconsd: %s: wrote %d bytes in %d chunks for %d writes from %d clients (%d failed, %d refused); waited for the device %d times (ring full %d)\n",
		p.name, c.TxBytes, c.TxChunks, p.writes.Load(), p.clients.Load(), p.failed.Load(), p.refused.Load(), p.waited.Load(), c.TxRingFull)
	fmt.Fprintf(w, "virtioconsd: %s: input discarded %d bytes in %d chunks; held by the device %d buffers, lost in resets %d bytes\n",
		p.name, c.RxBytes, c.RxChunks, held, c.TxLostInReset)
	fmt.Fprintf(w, "virtioconsd: device: interrupts %d, config changes %d, resets %d (bad used index %d, id %d, length %d, needs reset %d)\n",
		c.Interrupts, c.ConfigChanges, c.Resets, c.BadUsedIndex, c.BadUsedID, c.BadUsedLen, c.NeedsReset)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "virtioconsd: memory: sys %d KiB, heap in use %d KiB, DMA %d KiB\n", m.Sys>>10, m.HeapInuse>>10, dma>>10)
}
