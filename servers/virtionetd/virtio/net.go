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
)

// Features is what this driver asks for, of what the device offers: its
// MAC address and link status, and the modern interface when the
// transport is version 2. Not asked: checksum and segmentation offloads
// (netd checksums in software, and its frames are at most the MTU, so
// there is nothing to offload that would pay for the header handling on
// every frame), mergeable receive buffers (every frame fits one 2 KiB
// buffer without them), control and multiqueue (one queue pair is what a
// single-threaded netd uses).
const Features = FeatureMAC | FeatureStatus | FeatureVersion1

// Counters are what the driver counted. Every frame not delivered or not
// sent is in one of the drop counters.
type Counters struct {
	RxFrames, RxBytes uint64
	TxFrames, TxBytes uint64
	// Drops.
	RxShort       uint64 // a used receive buffer shorter than the virtio header
	TxRingFull    uint64 // no free transmit buffer after reclaiming
	TxOversize    uint64 // a frame larger than a buffer
	TxLostInReset uint64 // frames the device held when it was reset
	// The device.
	Interrupts    uint64 // Service calls that found an interrupt cause
	ConfigChanges uint64
	LinkChanges   uint64
	Resets        uint64 // resets after a fault (not the first set-up)
	BadUsedIndex  uint64 // the used index ran ahead of what was given
	BadUsedID     uint64 // a used entry named a descriptor not given
	BadUsedLen    uint64 // a used entry's length exceeded its buffer
	NeedsReset    uint64 // the device said DEVICE_NEEDS_RESET
}

// Config sets up a NIC.
type Config struct {
	QueueSize int // entries per queue; 0 means DefaultQueueSize
	// Deliver is called with each received frame during Service; the
	// slice is the device's buffer, valid only during the call.
	Deliver func(frame []byte)
	// Link is called when the link status changes.
	Link func(up bool)
}

// NIC is a virtio-net device driven through its receive and transmit
// queues. It is not safe for concurrent use: the caller serialises Send,
// Service and Reset.
type NIC struct {
	regs    Regs
	cfg     Config
	version uint32
	feat    uint64 // negotiated
	hdr     int    // virtio-net header length
	size    int

	qmem   Mem // both queues, contiguous
	bufs   Mem // rx buffers, then tx buffers
	rx, tx *queue
	txFree []uint16

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
	if cfg.QueueSize < 2 || cfg.QueueSize > 32768 || cfg.QueueSize&(cfg.QueueSize-1) != 0 {
		return nil, fmt.Errorf("virtio: queue size %d: want a power of two, 2..32768", cfg.QueueSize)
	}
	if cfg.Deliver == nil {
		cfg.Deliver = func([]byte) {}
	}
	if cfg.Link == nil {
		cfg.Link = func(bool) {}
	}
	if m := regs.Read32(regMagic); m != magicValue {
		return nil, fmt.Errorf("%w (magic %#x)", ErrNotVirtio, m)
	}
	n := &NIC{regs: regs, cfg: cfg, version: regs.Read32(regVersion), size: cfg.QueueSize}
	if n.version != 1 && n.version != 2 {
		return nil, fmt.Errorf("%w (version %d)", ErrNotVirtio, n.version)
	}
	if id := regs.Read32(regDeviceID); id != deviceNet {
		return nil, fmt.Errorf("%w (device id %d)", ErrNotNet, id)
	}
	_, _, qbytes := queueLayout(n.size)
	var err error
	if n.qmem, err = alloc(2*qbytes, true); err != nil {
		return nil, fmt.Errorf("virtio: queue memory: %w", err)
	}
	if n.bufs, err = alloc(2*n.size*BufSize, false); err != nil {
		return nil, fmt.Errorf("virtio: buffer memory: %w", err)
	}
	q := n.qmem.Bytes()
	n.rx = newQueue(queueRx, n.size, q[:qbytes], n.qmem.PA(0))
	n.tx = newQueue(queueTx, n.size, q[qbytes:2*qbytes], n.qmem.PA(qbytes))
	if err := n.setup(); err != nil {
		return nil, err
	}
	return n, nil
}

// Version is the transport's version: 1 legacy, 2 modern.
func (n *NIC) Version() uint32 { return n.version }

// Features returns the negotiated feature bits.
func (n *NIC) Features() uint64 { return n.feat }

// MAC is the device's address (from its configuration space, or a
// random locally administered one when it has none).
func (n *NIC) MAC() [6]byte { return n.mac }

// LinkUp reports the link status (up when the device does not report one).
func (n *NIC) LinkUp() bool { return n.up }

// Counters returns the counters.
func (n *NIC) Counters() Counters { return n.c }

// DMABytes is the DMA memory the NIC holds: its queues and buffers.
func (n *NIC) DMABytes() int { return len(n.qmem.Bytes()) + len(n.bufs.Bytes()) }

// TxFree returns how many transmit buffers are free.
func (n *NIC) TxFree() int { return len(n.txFree) }

// RxPosted returns how many receive buffers the device holds.
func (n *NIC) RxPosted() int { return n.rx.busy }

// bufPA returns the device address of buffer i (rx 0..size-1, tx after).
func (n *NIC) bufPA(i int) uint64 { return n.bufs.PA(i * BufSize) }

// buf returns buffer i.
func (n *NIC) buf(i int) []byte { return n.bufs.Bytes()[i*BufSize : (i+1)*BufSize] }

// setup resets the device and initialises it (spec 3.1.1): status,
// features, queues, configuration, DRIVER_OK, the receive ring filled.
func (n *NIC) setup() error {
	r := n.regs
	r.Write32(regStatus, 0)
	n.rx.reset()
	n.tx.reset()
	r.Write32(regStatus, statusAcknowledge)
	r.Write32(regStatus, statusAcknowledge|statusDriver)
	r.Write32(regDeviceFeatureSel, 0)
	offered := uint64(r.Read32(regDeviceFeatures))
	r.Write32(regDeviceFeatureSel, 1)
	offered |= uint64(r.Read32(regDeviceFeatures)) << 32
	want := uint64(Features)
	if n.version == 1 {
		want &^= FeatureVersion1
	}
	n.feat = offered & want
	r.Write32(regDriverFeatureSel, 0)
	r.Write32(regDriverFeatures, uint32(n.feat))
	r.Write32(regDriverFeatureSel, 1)
	r.Write32(regDriverFeatures, uint32(n.feat>>32))
	status := uint32(statusAcknowledge | statusDriver)
	n.hdr = legacyHdr
	if n.version == 2 {
		if n.feat&FeatureVersion1 == 0 {
			r.Write32(regStatus, statusFailed)
			return fmt.Errorf("%w: a version 2 transport without VIRTIO_F_VERSION_1", ErrRefused)
		}
		n.hdr = modernHdr
		status |= statusFeaturesOK
		r.Write32(regStatus, status)
		if r.Read32(regStatus)&statusFeaturesOK == 0 {
			r.Write32(regStatus, statusFailed)
			return fmt.Errorf("%w (features %#x)", ErrRefused, n.feat)
		}
	} else {
		r.Write32(regGuestPageSize, pageSize)
	}
	for _, q := range []*queue{n.rx, n.tx} {
		if err := n.setupQueue(q); err != nil {
			r.Write32(regStatus, statusFailed)
			return err
		}
	}
	n.readConfig(false)
	// Descriptors: rx i names buffer i (device-writable), tx i buffer
	// size+i; every rx buffer is offered, every tx buffer is free.
	n.txFree = n.txFree[:0]
	for i := 0; i < n.size; i++ {
		n.rx.setDesc(uint16(i), n.bufPA(i), BufSize, descWrite)
		n.rx.offer(uint16(i))
		n.tx.setDesc(uint16(i), n.bufPA(n.size+i), 0, 0)
		n.txFree = append(n.txFree, uint16(n.size-1-i))
	}
	n.rx.publish()
	r.Write32(regStatus, status|statusDriverOK)
	r.Write32(regQueueNotify, queueRx)
	return nil
}

// setupQueue tells the device where queue q is.
func (n *NIC) setupQueue(q *queue) error {
	r := n.regs
	r.Write32(regQueueSel, q.index)
	if n.version == 2 && r.Read32(regQueueReady) != 0 {
		return fmt.Errorf("virtio: queue %d is live after a reset", q.index)
	}
	if max := r.Read32(regQueueNumMax); max < uint32(n.size) {
		return fmt.Errorf("%w: queue %d holds %d, want %d", ErrSmallQueue, q.index, max, n.size)
	}
	r.Write32(regQueueNum, uint32(n.size))
	if n.version == 1 {
		r.Write32(regQueueAlign, pageSize)
		r.Write32(regQueuePFN, uint32(q.pa/pageSize))
		return nil
	}
	for _, p := range [][2]uint64{{regQueueDescLow, q.pa}, {regQueueDriverLow, q.pa + uint64(q.availOff)}, {regQueueDeviceLow, q.pa + uint64(q.usedOff)}} {
		r.Write32(uint32(p[0]), uint32(p[1]))
		r.Write32(uint32(p[0])+4, uint32(p[1]>>32))
	}
	r.Write32(regQueueReady, 1)
	return nil
}

// readConfig reads the MAC (once) and the link status; report calls
// cfg.Link when the status changed.
func (n *NIC) readConfig(report bool) {
	if n.feat&FeatureMAC != 0 {
		lo, hi := n.regs.Read32(cfgMAC), n.regs.Read32(cfgMAC+4)
		n.mac = [6]byte{byte(lo), byte(lo >> 8), byte(lo >> 16), byte(lo >> 24), byte(hi), byte(hi >> 8)}
	} else if n.mac == ([6]byte{}) {
		_, _ = rand.Read(n.mac[:])
		n.mac[0] = n.mac[0]&^1 | 2 // unicast, locally administered
	}
	up := true
	if n.feat&FeatureStatus != 0 {
		up = (n.regs.Read32(cfgMAC+4)>>16)&linkUp != 0
	}
	if report && up != n.up {
		n.c.LinkChanges++
		n.up = up
		n.cfg.Link(up)
	}
	n.up = up
}

// Send transmits one Ethernet frame (without FCS): it is copied into a
// free transmit buffer behind a zeroed virtio-net header, and the device
// notified. Completed buffers are reclaimed first when none is free.
func (n *NIC) Send(frame []byte) error {
	if len(frame) > BufSize-n.hdr {
		n.c.TxOversize++
		return ErrOversize
	}
	if len(n.txFree) == 0 {
		n.reclaim()
		if len(n.txFree) == 0 {
			n.c.TxRingFull++
			return ErrRingFull
		}
	}
	id := n.txFree[len(n.txFree)-1]
	n.txFree = n.txFree[:len(n.txFree)-1]
	b := n.buf(n.size + int(id))
	clear(b[:n.hdr])
	copy(b[n.hdr:], frame)
	n.tx.setLen(id, uint32(n.hdr+len(frame)))
	n.tx.offer(id)
	n.tx.publish()
	if n.tx.wantsNotify() {
		n.regs.Write32(regQueueNotify, queueTx)
	}
	n.c.TxFrames++
	n.c.TxBytes += uint64(len(frame))
	return nil
}

// reclaim takes back the transmit buffers the device is done with. A
// fault resets the device.
func (n *NIC) reclaim() {
	k, f := n.tx.pending()
	for ; f == faultNone && k > 0; k-- {
		var id uint16
		id, _, f = n.tx.take(^uint32(0)) // a transmit entry's length means nothing
		if f == faultNone {
			n.txFree = append(n.txFree, id)
		}
	}
	if f != faultNone {
		n.recover(f)
	}
}

// Service handles the device after an interrupt (or when polled): it
// acknowledges the interrupt, follows configuration changes, delivers
// every received frame (calling cfg.Deliver) and gives its buffer back,
// and reclaims transmit buffers. It returns how many frames it delivered.
func (n *NIC) Service() int {
	st := n.regs.Read32(regInterruptStatus)
	if st != 0 {
		n.regs.Write32(regInterruptACK, st)
		n.c.Interrupts++
	}
	if st&intConfigChange != 0 {
		n.c.ConfigChanges++
		if n.version == 2 && n.regs.Read32(regStatus)&statusNeedsReset != 0 {
			n.c.NeedsReset++
			n.reset()
			return 0
		}
		n.readConfig(true)
	}
	delivered := 0
	k, f := n.rx.pending()
	offered := false
	for ; f == faultNone && k > 0; k-- {
		var id uint16
		var length uint32
		id, length, f = n.rx.take(BufSize)
		if f != faultNone {
			break
		}
		if int(length) < n.hdr {
			n.c.RxShort++
		} else {
			frame := n.buf(int(id))[n.hdr:length]
			n.c.RxFrames++
			n.c.RxBytes += uint64(len(frame))
			n.cfg.Deliver(frame)
			delivered++
		}
		n.rx.offer(id)
		offered = true
	}
	if f != faultNone {
		n.recover(f)
		return delivered
	}
	if offered {
		n.rx.publish()
		if n.rx.wantsNotify() {
			n.regs.Write32(regQueueNotify, queueRx)
		}
	}
	n.reclaim()
	return delivered
}

// recover counts fault f and resets the device.
func (n *NIC) recover(f fault) {
	switch f {
	case faultIndex:
		n.c.BadUsedIndex++
	case faultID:
		n.c.BadUsedID++
	case faultLen:
		n.c.BadUsedLen++
	}
	n.reset()
}

// reset resets the device and sets it up again: frames it held for
// transmission are lost (counted), the receive ring is full again.
func (n *NIC) reset() {
	n.c.Resets++
	n.c.TxLostInReset += uint64(n.tx.busy)
	wasUp := n.up
	if err := n.setup(); err != nil {
		// The device refused what it accepted before: leave it failed;
		// Send then finds no progress and counts ring-full drops.
		n.txFree = n.txFree[:0]
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
func (n *NIC) Stop() { n.regs.Write32(regStatus, 0) }
