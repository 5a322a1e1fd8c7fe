// Command virtionetd is armos's virtio-net driver: a user-space process
// that owns one virtio-mmio network device and passes its frames to and
// from netd as msgpack-framed sk_buffs over kernel IPC (the frame
// protocol of servers/netd/link: OpFrame messages, and an OpLinkInfo
// description of the device first and on every link change).
//
// Usage (started by init, which grants it the device it names):
//
//	service virtionetd device=net /bin/virtionetd [-name net0] [-queue 256]
//	service netd /bin/netd -link nic:net0 -ip 10.0.2.15/24 -gw 10.0.2.2
//
// The device comes from init (ARMOS_DEVICES, libdev.FromEnv) or, for
// tests started from the kernel command line with grant:net, from grant
// -grant. virtionetd registers NAME with init's name service; a netd that
// connects becomes its peer (a later connection replaces an earlier one:
// a restarted netd takes over). Received frames go to the peer; frames the
// peer sends are transmitted. It prints one ready line and, when
// stopped (SIGTERM), its counters.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"armos/libdev"
	"armos/libipc"
	"armos/libipc/skbuff"
	"armos/libsocket/adminproto"
	"armos/libsys"
	"armos/servers/netd/link"
	"armos/servers/virtionetd/virtio"
)

// readyPrefix starts the line virtionetd prints once it serves.
const readyPrefix = "virtionetd: ready"

// startTrace is when main began (for the restart timeline).
var startTrace *libsys.Start

func main() {
	startTrace = libsys.StartTrace()
	name := flag.String("name", "net0", "the link's name in init's name service (netd -link nic:NAME)")
	grant := flag.Int("grant", 0, "the device's grant number when started from the kernel command line (grant:net)")
	queue := flag.Int("queue", virtio.DefaultQueueSize, "entries per virtqueue (a power of two)")
	mtu := flag.Int("mtu", 1500, "the IP MTU netd is told")
	flag.Parse()
	if flag.NArg() > 0 || *mtu < 68 || *mtu > virtio.BufSize-14-12 {
		fmt.Fprintf(os.Stderr, "virtionetd: usage: virtionetd [-name NAME] [-grant N] [-queue N] [-mtu 68..%d]\n", virtio.BufSize-14-12)
		os.Exit(2)
	}
	if err := run(*name, *grant, *queue, *mtu); err != nil {
		fmt.Fprintln(os.Stderr, "virtionetd:", err)
		os.Exit(1)
	}
}

// openDevice returns the device init passed, or the command-line grant.
func openDevice(grant int) (*libdev.Device, error) {
	if os.Getenv(libdev.EnvDevices) == "" {
		return libdev.Grant(grant)
	}
	devs, err := libdev.FromEnv()
	if err != nil {
		return nil, err
	}
	if len(devs) != 1 {
		return nil, fmt.Errorf("%d devices passed, want one network device", len(devs))
	}
	return devs[0], nil
}

func run(name string, grant, queue, mtu int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// A standby driver waits here, before touching the device (the
	// running one holds it), until init hands it the service; SIGTERM
	// while waiting ends it quietly.
	restart, standby, err := libipc.AwaitTurn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if standby {
		startTrace.TookOver()
	}
	dev, err := openDevice(grant)
	if err != nil {
		return err
	}
	regs, how := registers(dev)
	d := &driver{mtu: mtu}
	nic, err := virtio.New(regs, allocDMA, virtio.Config{QueueSize: queue, Deliver: d.deliver, Link: d.linkChanged})
	if err != nil {
		return err
	}
	d.nic = nic
	irq, err := dev.IRQ()
	if err != nil {
		nic.Stop()
		return fmt.Errorf("interrupt: %w", err)
	}
	// Outside init (a smoke test from the kernel command line) there is
	// no name service: the device runs, frames are counted and dropped.
	if boot, err := libipc.Bootstrap(); err == nil {
		go boot.ExitWhenGone(ctx, "virtionetd")
		if err := boot.RegisterErr(ctx, name, d.accept); err != nil {
			nic.Stop()
			return err
		}
		// The operators' service: netstat's driver counters.
		mux := libipc.NewMux()
		libipc.Handle(mux, adminproto.OpReport, func(*libipc.Request, *adminproto.Empty) (*adminproto.Report, error) {
			var b bytes.Buffer
			d.report(&b)
			return &adminproto.Report{Text: b.String()}, nil
		})
		srv := libipc.NewServer(mux)
		go func() { _ = srv.Serve(ctx) }()
		if err := boot.RegisterErr(ctx, name+adminproto.DriverSuffix, srv.Accept); err != nil {
			nic.Stop()
			return err
		}
	} else {
		fmt.Fprintf(os.Stderr, "virtionetd: not started by init (%v): no netd can connect\n", err)
	}
	go d.interrupts(irq)
	info := dev.Info()
	fmt.Printf("%s %s mac %s virtio-mmio v%d at %#x irq %d registers %s queues %d link %s\n", readyPrefix, name,
		net.HardwareAddr(d.mac()), nic.Version(), info.Base, info.IRQ, how, queue, upDown(nic.LinkUp()))
	if restart > 0 {
		fmt.Print(startTrace.Line("virtionetd", strconv.Itoa(restart)))
	}
	<-ctx.Done()
	d.mu.Lock()
	nic.Stop()
	d.mu.Unlock()
	d.report(os.Stdout)
	return nil
}

// registers returns how the driver reaches the device's registers: mapped
// when the kernel maps the page (no other device on it), else through the
// kernel (docs/devices.md).
func registers(dev *libdev.Device) (virtio.Regs, string) {
	if base, err := dev.Map(); err == nil {
		return mappedRegs{base: base}, "mapped"
	}
	return mediatedRegs{dev: dev}, "mediated"
}

// driver ties the NIC to its netd peer.
type driver struct {
	mtu int
	mu  sync.Mutex // serialises the NIC
	nic *virtio.NIC

	peer     atomic.Pointer[link.Chan]
	peers    atomic.Uint64 // connections accepted
	noPeer   atomic.Uint64 // drop: a frame came with no netd connected
	txErrors atomic.Uint64 // frames netd sent that the NIC refused (counted there too)
}

func (d *driver) mac() []byte { m := d.nic.MAC(); return m[:] }

// dmaKiB is the DMA memory the NIC holds (its queues and buffers).
func (d *driver) dmaKiB() int { return d.nic.DMABytes() >> 10 }

func (d *driver) info() link.LinkInfo {
	return link.LinkInfo{MAC: d.mac(), MTU: d.mtu, Up: d.nic.LinkUp(),
		Driver: fmt.Sprintf("virtio-net, virtio-mmio v%d", d.nic.Version())}
}

// accept takes a netd connection as the peer: it is told the device's
// description, and it replaces an earlier peer (a restarted netd).
func (d *driver) accept(ep libipc.Endpoint) {
	c := link.NewChan(ep)
	d.mu.Lock()
	err := c.SendInfo(d.info())
	d.mu.Unlock()
	if err != nil {
		fmt.Fprintln(os.Stderr, "virtionetd: a new peer:", err)
		c.Close()
		return
	}
	d.peers.Add(1)
	if old := d.peer.Swap(c); old != nil {
		old.Close()
	}
	go d.transmit(c)
}

// transmit sends what peer c sends until it goes.
func (d *driver) transmit(c *link.Chan) {
	b := skbuff.Get()
	defer b.Free()
	for {
		if err := c.ReadBuf(b); err != nil {
			if !errors.Is(err, link.ErrClosed) {
				fmt.Fprintln(os.Stderr, "virtionetd: peer:", err)
			}
			d.peer.CompareAndSwap(c, nil)
			c.Close()
			return
		}
		d.mu.Lock()
		err := d.nic.Send(b.Bytes())
		d.mu.Unlock()
		if err != nil {
			d.txErrors.Add(1)
		}
		_ = b.Reset(skbuff.DefaultHeadroom)
	}
}

// deliver passes a received frame to the peer (called by Service, with
// d.mu held).
func (d *driver) deliver(frame []byte) {
	c := d.peer.Load()
	if c == nil {
		d.noPeer.Add(1)
		return
	}
	b := skbuff.Get()
	if err := b.Append(frame); err != nil {
		_ = b.Free()
		return
	}
	_ = c.Transmit(b) // a full peer queue is counted by the Chan
}

// linkChanged tells the peer (called by Service, with d.mu held).
func (d *driver) linkChanged(up bool) {
	fmt.Printf("virtionetd: link %s\n", upDown(up))
	if c := d.peer.Load(); c != nil {
		_ = c.SendInfo(d.info())
	}
}

// interrupts services the device at each interrupt.
func (d *driver) interrupts(irq *libdev.IRQ) {
	for {
		if _, err := irq.Wait(); err != nil {
			fmt.Fprintln(os.Stderr, "virtionetd: interrupt:", err)
			return
		}
		d.mu.Lock()
		d.nic.Service()
		d.mu.Unlock()
		if err := irq.Ack(); err != nil {
			fmt.Fprintln(os.Stderr, "virtionetd: acknowledging the interrupt:", err)
			return
		}
	}
}

// report prints the counters, netstat style.
func (d *driver) report(w io.Writer) {
	d.mu.Lock()
	c := d.nic.Counters()
	d.mu.Unlock()
	fmt.Fprintf(w, "virtionetd: rx %d frames %d bytes, tx %d frames %d bytes\n", c.RxFrames, c.RxBytes, c.TxFrames, c.TxBytes)
	fmt.Fprintf(w, "virtionetd: drops: rx short %d, no peer %d, tx ring full %d, tx oversize %d, lost in reset %d\n",
		c.RxShort, d.noPeer.Load(), c.TxRingFull, c.TxOversize, c.TxLostInReset)
	fmt.Fprintf(w, "virtionetd: device: interrupts %d, config changes %d, link changes %d, resets %d (bad used index %d, id %d, length %d, needs reset %d), peers %d\n",
		c.Interrupts, c.ConfigChanges, c.LinkChanges, c.Resets, c.BadUsedIndex, c.BadUsedID, c.BadUsedLen, c.NeedsReset, d.peers.Load())
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(w, "virtionetd: memory: sys %d KiB, heap in use %d KiB, DMA %d KiB\n", m.Sys>>10, m.HeapInuse>>10, d.dmaKiB())
	if p := d.peer.Load(); p != nil {
		pc := p.Counters()
		fmt.Fprintf(w, "virtionetd: peer: to netd %d frames (%d dropped: queue full, %d errors), from netd %d frames (%d malformed)\n",
			pc.TxFrames, pc.TxQueueFull, pc.TxErrors, pc.RxFrames, pc.RxMalformed)
	}
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}
