package virtio

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// Defaults: 256-entry queues (the handbook's ring size) of 2 KiB buffers
// (a full 1514-byte frame and the virtio header fit; one buffer never
// straddles a page).
const (
	DefaultQueueSize = 256
	BufSize          = 2048
)

// Errors of Send and New.
var (
	ErrRingFull   = errors.New("virtio: transmit ring full")
	ErrOversize   = errors.New("virtio: frame larger than a buffer")
	ErrNotVirtio  = errors.New("virtio: not a virtio-mmio device")
	ErrNotNet     = errors.New("virtio: not a network device")
	ErrRefused    = errors.New("virtio: the device refused the features")
	ErrSmallQueue = errors.New("virtio: the device's queue is too small")
	ErrNoTSO      = errors.New("virtio: the device does not segment TCP")
	ErrBadOffload = errors.New("virtio: not an IPv4 TCP frame the device can segment")
	ErrBadSlot    = errors.New("virtio: not a slot the peer holds, or a frame not in it")
)

// Features is what this driver always asks for, of what the device
// offers: its MAC address and link status, and the modern interface when
// the transport is version 2. OffloadFeatures it asks for besides unless
// Config.NoOffload. Not asked: the receive offloads (GUEST_CSUM,
// GUEST_TSO4 and the like: received frames must arrive fully checksummed
// and at most the MTU, as netd takes them), mergeable receive buffers
// (every frame fits one 2 KiB buffer without them), control and
// multiqueue (one queue pair is what a single-threaded netd uses).
const Features = FeatureMAC | FeatureStatus | FeatureVersion1

// OffloadFeatures are the transmit offloads: the device cuts an IPv4 TCP
// segment of up to 64 KB into MTU-sized frames and completes their
// checksums (SendTSO), so a bulk transfer costs netd and the IPC to this
// driver one frame per 64 KB instead of one per MSS. They are taken
// together or not at all: HOST_TSO4 is only valid with CSUM (spec
// 5.1.3.1), and CSUM alone buys nothing, netd completing the checksum of
// every frame it does not offload.
const OffloadFeatures = FeatureCSUM | FeatureHostTSO4

// Counters are what the driver counted. Every frame not delivered or not
// sent is in one of the drop counters.
type Counters struct {
	RxFrames, RxBytes uint64
	// TxFrames and TxBytes count every frame handed to the device,
	// offloaded ones (SendTSO, also in TxTSOFrames and TxTSOBytes) as one
	// frame of their whole length: the device's segments are not counted.
	TxFrames, TxBytes       uint64
	TxTSOFrames, TxTSOBytes uint64
	// Drops.
	RxShort        uint64 // a used receive buffer shorter than the virtio header
	TxRingFull     uint64 // no free transmit buffer after reclaiming
	TxOversize     uint64 // a frame larger than a buffer (Send) or TSOMax (SendTSO)
	TxLostInReset  uint64 // frames the device held when it was reset
	TxTSOSlotsFull uint64 // SendTSO: no free offload slot after reclaiming
	TxInSlot       uint64 // offloaded frames sent from the lent slot they were received into (SendTSOInSlot, SendShared): not copied
	TxShared       uint64 // offloaded frames the peer built in a slot of its share (SendShared)
	TxBadSlot      uint64 // SendShared refused: a slot the peer does not hold, or a frame not in it
	TxBadOffload   uint64 // SendTSO refused: no offload negotiated, or not a frame it can offload
	// The device.
	LinkChanges uint64
	DeviceCounters
}

// Config sets up a NIC.
type Config struct {
	QueueSize int // entries per queue; 0 means DefaultQueueSize
	// Deliver is called with each received frame during Service; the
	// slice is the device's buffer, valid only during the call.
	Deliver func(frame []byte)
	// Link is called when the link status changes.
	Link func(up bool)
	// NoOffload keeps the driver from asking for OffloadFeatures: TSOMax
	// is 0 and no offload memory is allocated.
	NoOffload bool
}

// NIC is a virtio-net device driven through its receive and transmit
// queues. It is not safe for concurrent use: the caller serialises Send,
// Service and Reset.
type NIC struct {
	t    *transport
	cfg  Config
	hdr  int // virtio-net header length
	size int

	bufs   Mem // rx buffers, then tx buffers
	rx, tx *bufQueue
	tso    *tsoSlots // when the device segments TCP (else nil)

	mac [6]byte
	up  bool
	c   Counters
}

// New checks that regs is a virtio-net device, allocates its queues and
// buffers with alloc, and brings it up with the receive ring full.
func New(regs Regs, alloc Alloc, cfg Config) (*NIC, error) {
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if err := checkQueueSize(cfg.QueueSize); err != nil {
		return nil, err
	}
	if cfg.Deliver == nil {
		cfg.Deliver = func([]byte) {}
	}
	if cfg.Link == nil {
		cfg.Link = func(bool) {}
	}
	t, err := probe(regs, deviceNet, ErrNotNet)
	if err != nil {
		return nil, err
	}
	n := &NIC{t: t, cfg: cfg, size: cfg.QueueSize}
	if err := t.allocQueues(alloc, n.size, n.size); err != nil {
		return nil, err
	}
	if n.bufs, err = alloc(2*n.size*BufSize, false); err != nil {
		return nil, fmt.Errorf("virtio: buffer memory: %w", err)
	}
	n.rx = newBufQueue(t.queues[queueRx], n.bufs, 0, BufSize)
	n.tx = newBufQueue(t.queues[queueTx], n.bufs, n.size*BufSize, BufSize)
	if err := n.setup(); err != nil {
		return nil, err
	}
	if n.t.feat&FeatureHostTSO4 != 0 {
		if n.tso, err = newTSOSlots(alloc, n.size); err != nil {
			n.t.stop()
			return nil, err
		}
	}
	return n, nil
}

// Version is the transport's version: 1 legacy, 2 modern.
func (n *NIC) Version() uint32 { return n.t.version }

// Features returns the negotiated feature bits.
func (n *NIC) Features() uint64 { return n.t.feat }

// MAC is the device's address (from its configuration space, or a
// random locally administered one when it has none).
func (n *NIC) MAC() [6]byte { return n.mac }

// LinkUp reports the link status (up when the device does not report one).
func (n *NIC) LinkUp() bool { return n.up }

// Counters returns the counters.
func (n *NIC) Counters() Counters {
	c := n.c
	c.DeviceCounters = n.t.c
	return c
}

// DMABytes is the DMA memory the NIC holds: its queues and buffers, and
// its offload slots.
func (n *NIC) DMABytes() int {
	b := len(n.t.qmem.Bytes()) + len(n.bufs.Bytes())
	if n.tso != nil {
		b += n.tso.bytes()
	}
	return b
}

// TxFree returns how many transmit buffers are free.
func (n *NIC) TxFree() int { return len(n.tx.free) }

// RxPosted returns how many receive buffers the device holds.
func (n *NIC) RxPosted() int { return n.rx.busy }

// setup resets the device and initialises it (spec 3.1.1): status,
// features, queues, configuration, DRIVER_OK, the receive ring filled,
// every transmit buffer and offload slot free.
func (n *NIC) setup() error {
	want := uint64(Features)
	if !n.cfg.NoOffload {
		want |= OffloadFeatures
	}
	if n.tso != nil {
		n.tso.reset() // the device, reset in start, holds none
	}
	if err := n.t.start(want, OffloadFeatures); err != nil {
		return err
	}
	n.hdr = legacyHdr
	if n.t.version == 2 {
		n.hdr = modernHdr
	}
	n.readConfig(false)
	n.t.live(n.rx, n.tx)
	return nil
}

// readConfig reads the MAC (once) and the link status; report calls
// cfg.Link when the status changed.
func (n *NIC) readConfig(report bool) {
	if n.t.feat&FeatureMAC != 0 {
		lo, hi := n.t.regs.Read32(cfgMAC), n.t.regs.Read32(cfgMAC+4)
		n.mac = [6]byte{byte(lo), byte(lo >> 8), byte(lo >> 16), byte(lo >> 24), byte(hi), byte(hi >> 8)}
	} else if n.mac == ([6]byte{}) {
		_, _ = rand.Read(n.mac[:])
		n.mac[0] = n.mac[0]&^1 | 2 // unicast, locally administered
	}
	up := true
	if n.t.feat&FeatureStatus != 0 {
		up = (n.t.regs.Read32(cfgMAC+4)>>16)&linkUp != 0
	}
	if report && up != n.up {
		n.c.LinkChanges++
		n.up = up
		n.cfg.Link(up)
	}
	n.up = up
}

// Send transmits one Ethernet frame (without FCS), complete with its
// checksums: it is copied into a free transmit buffer behind a zeroed
// virtio-net header (nothing for the device to do), and the device
// notified. Completed buffers are reclaimed first when none is free.
func (n *NIC) Send(frame []byte) error {
	if len(frame) > BufSize-n.hdr {
		n.c.TxOversize++
		return ErrOversize
	}
	if err := n.sendInBuf(frame, netHdr{}); err != nil {
		return err
	}
	n.c.TxFrames++
	n.c.TxBytes += uint64(len(frame))
	return nil
}

// sendInBuf copies frame (it fits) behind header h into a transmit buffer
// of its own and gives it to the device; finished buffers are reclaimed
// first when none is free (ErrRingFull, counted, when still none is).
func (n *NIC) sendInBuf(frame []byte, h netHdr) error {
	if len(n.tx.free) == 0 {
		n.reclaim()
	}
	id, b, ok := n.tx.get()
	if !ok {
		n.c.TxRingFull++
		return ErrRingFull
	}
	h.put(b[:n.hdr])
	copy(b[n.hdr:], frame)
	n.tx.put(id, n.hdr+len(frame))
	n.t.kick(n.tx.queue)
	return nil
}

// reclaim takes back the transmit buffers the device is done with. A
// fault resets the device.
func (n *NIC) reclaim() {
	if f := n.tx.reclaim(n.txDone); f != faultNone {
		n.recover(f)
	}
}

// Service handles the device after an interrupt (or when polled): it
// acknowledges the interrupt, follows configuration changes, delivers
// every received frame (calling cfg.Deliver) and gives its buffer back,
// and reclaims transmit buffers. It returns how many frames it delivered.
func (n *NIC) Service() int {
	st, needsReset := n.t.interrupt()
	if needsReset {
		n.reset()
		return 0
	}
	if st&intConfigChange != 0 {
		n.readConfig(true)
	}
	delivered := 0
	f := n.rx.recycle(n.t, func(id uint16, length uint32) {
		if int(length) < n.hdr {
			n.c.RxShort++
			return
		}
		frame := n.rx.buf(id)[n.hdr:length]
		n.c.RxFrames++
		n.c.RxBytes += uint64(len(frame))
		n.cfg.Deliver(frame)
		delivered++
	})
	if f != faultNone {
		n.recover(f)
		return delivered
	}
	n.reclaim()
	return delivered
}

// recover counts fault f and resets the device.
func (n *NIC) recover(f fault) {
	n.t.count(f)
	n.reset()
}

// reset resets the device and sets it up again: frames it held for
// transmission are lost (counted), the receive ring is full again.
func (n *NIC) reset() {
	n.t.c.Resets++
	n.c.TxLostInReset += uint64(n.tx.busy)
	wasUp := n.up
	if err := n.setup(); err != nil {
		// The device refused what it accepted before: leave it failed;
		// Send then finds no progress and counts ring-full drops.
		n.tx.free = n.tx.free[:0]
		return
	}
	if n.up != wasUp {
		n.c.LinkChanges++
		n.cfg.Link(n.up)
	}
}

// Reset resets the device and sets it up again (an operator's request,
// or a watchdog's).
func (n *NIC) Reset() { n.reset() }

// Stop resets the device, so it stops using the memory it was given.
func (n *NIC) Stop() { n.t.stop() }
