// Command virtionetd is armos's virtio-net driver: a user-space process
// that owns one virtio-mmio network device and passes its frames to and
// from netd as msgpack-framed sk_buffs over kernel IPC (the frame
// protocol of servers/netd/link: OpFrame messages, and an OpLinkInfo
// description of the device first and on every link change).
//
// Usage (started by init, which grants it the device it names):
//
//	service virtionetd device=net /bin/virtionetd [-name net0] [-queue 256] [-offload=false]
//	service netd /bin/netd -link nic:net0 -ip 10.0.2.15/24 -gw 10.0.2.2
//
// The device comes from init (ARMOS_DEVICES, libdev.FromEnv) or, for
// tests started from the kernel command line with grant:net, from grant
// -grant. virtionetd registers NAME with init's name service; a netd that
// connects becomes its peer (a later connection replaces an earlier one:
// a restarted netd takes over). Received frames go to the peer; frames the
// peer sends are transmitted: a frame with a GSOSize whole, for the
// device to segment (TCP segmentation offload, when the device offers it
// and -offload is not false; the link description's TSOMax says so). It
// prints one ready line and, when stopped (SIGTERM), its counters.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"armos/libipc"
	"armos/libipc/skbuff"
	"armos/libsys"
	"armos/servers/netd/link"
	"armos/servers/virtionetd/virtio"
	"armos/servers/virtionetd/virtio/granted"
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
	offload := flag.Bool("offload", true, "let the device segment TCP and complete checksums of what netd sends, when it offers to")
	flag.Parse()
	if flag.NArg() > 0 || *mtu < 68 || *mtu > virtio.BufSize-14-12 {
		fmt.Fprintf(os.Stderr, "virtionetd: usage: virtionetd [-name NAME] [-grant N] [-queue N] [-mtu 68..%d] [-offload=false]\n", virtio.BufSize-14-12)
		os.Exit(2)
	}
	if err := run(*name, *grant, *queue, *mtu, *offload); err != nil {
		fmt.Fprintln(os.Stderr, "virtionetd:", err)
		os.Exit(1)
	}
}

func run(name string, grant, queue, mtu int, offload bool) error {
	// A standby driver waits in Start, before touching the device (the
	// running one holds it), until init hands it the service; SIGTERM
	// while waiting ends it quietly.
	s, stop, err := granted.Start(startTrace, grant, "network")
	defer stop()
	if s == nil || err != nil {
		return err
	}
	ctx, dev := s.Ctx, s.Dev
	d := &driver{mtu: mtu}
	nic, err := virtio.New(s.Regs, granted.AllocDMA, virtio.Config{QueueSize: queue, Deliver: d.deliver, Link: d.linkChanged,
		NoOffload: !offload})
	if err != nil {
		return err
	}
	d.nic = nic
	tso := d.tsoMax()
	irq, err := dev.IRQ()
	if err != nil {
		nic.Stop()
		return fmt.Errorf("interrupt: %w", err)
	}
	// Outside init (a smoke test from the kernel command line) there is
	// no name service: the device runs, frames are counted and dropped.
	// NAME.admin is the operators' service: netstat's driver counters.
	if err := granted.Register(ctx, "virtionetd", name, d.accept, d.report); errors.Is(err, granted.ErrNoInit) {
		fmt.Fprintf(os.Stderr, "virtionetd: %v: no netd can connect\n", err)
	} else if err != nil {
		nic.Stop()
		return err
	}
	go granted.Interrupts(irq, "virtionetd", func() {
		d.mu.Lock()
		d.nic.Service()
		d.topUp()
		d.mu.Unlock()
	})
	info := dev.Info()
	s.Ready("virtionetd", fmt.Sprintf("%s %s mac %s virtio-mmio v%d at %#x irq %d registers %s queues %d link %s tso %d", readyPrefix, name,
		net.HardwareAddr(d.mac()), nic.Version(), info.Base, info.IRQ, s.How, queue, upDown(nic.LinkUp()), tso))
	<-ctx.Done()
	d.mu.Lock()
	nic.Stop()
	d.mu.Unlock()
	d.report(os.Stdout)
	return nil
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

	// the transmit slots shared with the peer (link.SlotShare), under mu:
	// peerGen numbers the peers accepted, and sharing says the current
	// one mapped the slots, so that it is lent some
	peerGen  int
	sharing  bool
	shareErr atomic.Uint64 // peers the slots could not be shared with
}

// shareMax is how many offload slots the peer (netd) holds at most: the
// receive buffers it posts for tcpd's segments (libipc posts four) and
// two on their way back. The other three are for the device and netd's
// frame messages.
const shareMax = 12

func (d *driver) mac() []byte { m := d.nic.MAC(); return m[:] }

// dmaKiB is the DMA memory the NIC holds (its queues and buffers).
func (d *driver) dmaKiB() int { return d.nic.DMABytes() >> 10 }

func (d *driver) info() link.LinkInfo {
	return link.LinkInfo{MAC: d.mac(), MTU: d.mtu, Up: d.nic.LinkUp(), TSOMax: d.tsoMax(),
		Driver: fmt.Sprintf("virtio-net, virtio-mmio v%d", d.nic.Version())}
}

// tsoMax is the largest offloaded IPv4 datagram netd may send: the
// NIC's, within what one frame message carries (link.MaxTSO); 0 when
// the device does not segment (or could not beat the MTU). Called with
// d.mu held, or before the NIC is shared.
func (d *driver) tsoMax() int {
	n := min(d.nic.TSOMax(), link.MaxTSO)
	if n <= d.mtu {
		return 0
	}
	return n
}

// accept takes a netd connection as the peer: it is told the device's
// description, and it replaces an earlier peer (a restarted netd).
func (d *driver) accept(ep libipc.Endpoint) {
	c := link.NewChan(ep)
	// netd's frame messages are received into offload slots lent out
	// (the kernel copies each into device memory) and an offloaded one
	// goes to the device from where it lies.
	c.SetPostSource(slotSource{d})
	d.mu.Lock()
	err := c.SendInfo(d.info())
	d.mu.Unlock()
	if err != nil {
		fmt.Fprintln(os.Stderr, "virtionetd: a new peer:", err)
		c.Close()
		return
	}
	d.peers.Add(1)
	d.mu.Lock()
	d.peerGen++
	gen := d.peerGen
	d.sharing = false
	d.mu.Unlock()
	if old := d.peer.Swap(c); old != nil {
		old.Close()
	}
	c.OnTxSlot(func(t link.TxSlot) {
		d.mu.Lock()
		err := d.nic.SendShared(gen, t.Slot, t.Off, t.Len, t.GSO)
		d.topUp()
		d.mu.Unlock()
		if err != nil {
			d.txErrors.Add(1)
		}
	})
	d.share(c, gen)
	go d.transmit(c, gen)
}

// share sends peer c (number gen) the offload slots' memory and lends it
// its first slots. Without the offload there is nothing to share; when a
// message does not go, the peer goes without (counted).
func (d *driver) share(c *link.Chan, gen int) {
	d.mu.Lock()
	n := d.nic.SlotCount()
	objs, per := d.nic.SlotObjects()
	ok := n > 0 && n <= link.MaxSlots && d.tsoMax() > 0
	d.mu.Unlock()
	if !ok {
		return
	}
	for k := 0; k < len(objs); k += libipc.MaxCaps {
		var caps []libipc.Cap
		var err error
		for _, m := range objs[k:min(len(objs), k+libipc.MaxCaps)] {
			sm, shareable := m.(interface{ ShareCap() (libipc.Cap, error) })
			if !shareable {
				return // not shared memory (a test's)
			}
			var h libipc.Cap
			if h, err = sm.ShareCap(); err != nil {
				break
			}
			caps = append(caps, h)
		}
		if err == nil {
			err = c.SendSlots(k*per, virtio.SlotSize, per, caps)
		}
		if err != nil {
			for _, h := range caps {
				h.Close() // not sent
			}
			d.shareErr.Add(1)
			fmt.Fprintln(os.Stderr, "virtionetd: sharing the offload slots:", err)
			return
		}
	}
	d.mu.Lock()
	if d.peerGen == gen {
		d.sharing = true
		d.topUp()
	}
	d.mu.Unlock()
}

// topUp lends the current peer free slots up to shareMax (with d.mu
// held): after it sent one back, and after each interrupt (the device
// done with some). A lend that does not go is taken back.
func (d *driver) topUp() {
	c := d.peer.Load()
	if c == nil || !d.sharing {
		return
	}
	if mask := d.nic.LendShared(d.peerGen, shareMax); mask != 0 && c.SendLend(mask) != nil {
		d.nic.Unlend(d.peerGen, mask)
	}
}

// txStorage is the transmit goroutine's buffer: the largest frame netd
// sends (an offloaded one: the Ethernet header and a link.MaxTSO
// datagram) at the offset netd's sk_buff had it, behind at most its
// default headroom: 64 KiB and the headroom is room to spare.
const txStorage = skbuff.DefaultHeadroom + 64<<10

// transmit sends what peer c sends until it goes. Frames are decoded
// into one buffer of txStorage bytes, used again for every frame (a
// pooled 2 KiB sk_buff would not hold an offloaded one).
func (d *driver) transmit(c *link.Chan, gen int) {
	b, err := skbuff.Default.View(make([]byte, txStorage), skbuff.DefaultHeadroom, nil)
	if err != nil { // not with this storage and headroom
		panic(err)
	}
	defer b.Free()
	// The frame is copied once, from netd's message into the device's
	// buffer (b only holds the frames not in the usual encoding).
	send := func(frame []byte, gso uint16) {
		d.mu.Lock()
		var err error
		if gso != 0 {
			var took bool
			if took, err = d.nic.SendTSOInSlot(frame, int(gso)); !took {
				err = d.nic.SendTSO(frame, int(gso))
			}
		} else {
			err = d.nic.Send(frame)
		}
		d.mu.Unlock()
		if err != nil {
			d.txErrors.Add(1)
		}
	}
	for {
		if err := c.ReadFrameInPlace(b, send); err != nil {
			if !errors.Is(err, link.ErrClosed) {
				fmt.Fprintln(os.Stderr, "virtionetd: peer:", err)
			}
			d.peer.CompareAndSwap(c, nil)
			c.Close()
			// The peer is gone: the slots it held are the driver's.
			d.mu.Lock()
			d.nic.ReturnShared(gen)
			if d.peerGen == gen {
				d.sharing = false
			}
			d.mu.Unlock()
			return
		}
	}
}

// slotSource lends the NIC's offload slots to the channel from netd as
// its receive buffers (libipc.PostSource). A slot comes back when a
// message in it has been read (link.Chan gives it back: ReturnSlot, which
// does nothing when the frame went to the device from it) or when the
// channel no longer needs it.
type slotSource struct{ d *driver }

func (s slotSource) PostBuf() []byte {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.d.nic.LendSlot()
}

func (s slotSource) PutBuf(b []byte) {
	s.d.mu.Lock()
	s.d.nic.ReturnSlot(b)
	s.d.mu.Unlock()
}

// Owns needs no lock: the slots are fixed for the NIC's life.
func (s slotSource) Owns(b []byte) bool { return s.d.nic.SlotOwns(b) }

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

// report prints the counters, netstat style.
func (d *driver) report(w io.Writer) {
	d.mu.Lock()
	c := d.nic.Counters()
	tso := d.tsoMax()
	d.mu.Unlock()
	fmt.Fprintf(w, "virtionetd: rx %d frames %d bytes, tx %d frames %d bytes\n", c.RxFrames, c.RxBytes, c.TxFrames, c.TxBytes)
	fmt.Fprintf(w, "virtionetd: drops: rx short %d, no peer %d, tx ring full %d, tx oversize %d, lost in reset %d, tso slots full %d, bad offload %d\n",
		c.RxShort, d.noPeer.Load(), c.TxRingFull, c.TxOversize, c.TxLostInReset, c.TxTSOSlotsFull, c.TxBadOffload)
	fmt.Fprintf(w, "virtionetd: offload: tso max %d, tso %d frames %d bytes (in tx), %d sent from the slot netd's message came in, %d built by netd in its shared slots (%d refused, %d peers not shared with)\n",
		tso, c.TxTSOFrames, c.TxTSOBytes, c.TxInSlot, c.TxShared, c.TxBadSlot, d.shareErr.Load())
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
