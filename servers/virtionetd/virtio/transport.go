package virtio

import "fmt"

// DeviceCounters are what the transport counts for every device of this
// package: interrupts, resets and the rules the device broke.
type DeviceCounters struct {
	Interrupts    uint64 // Service calls that found an interrupt cause
	ConfigChanges uint64
	Resets        uint64 // resets after a fault (not the first set-up)
	BadUsedIndex  uint64 // the used index ran ahead of what was given
	BadUsedID     uint64 // a used entry named a descriptor not given
	BadUsedLen    uint64 // a used entry's length exceeded its buffer
	NeedsReset    uint64 // the device said DEVICE_NEEDS_RESET
}

// transport is the virtio-mmio part every driver of this package shares
// (spec 3.1.1, 4.2): the device's identity, feature negotiation, the
// queues' memory and addresses on both transport versions, DRIVER_OK,
// interrupts and notifications, and the counting of faults.
type transport struct {
	regs    Regs
	version uint32 // 1 legacy, 2 modern
	status  uint32 // what the driver set during set-up, DRIVER_OK aside
	feat    uint64 // negotiated
	qmem    Mem    // every queue, contiguous
	queues  []*queue
	c       DeviceCounters
}

// checkQueueSize accepts a split virtqueue's size: a power of two up to
// the spec's 32768.
func checkQueueSize(n int) error {
	if n < 2 || n > 32768 || n&(n-1) != 0 {
		return fmt.Errorf("virtio: queue size %d: want a power of two, 2..32768", n)
	}
	return nil
}

// probe checks that regs is a virtio-mmio device of the given device ID
// (else wrong) on a transport version this package drives.
func probe(regs Regs, id uint32, wrong error) (*transport, error) {
	if m := regs.Read32(regMagic); m != magicValue {
		return nil, fmt.Errorf("%w (magic %#x)", ErrNotVirtio, m)
	}
	t := &transport{regs: regs, version: regs.Read32(regVersion)}
	if t.version != 1 && t.version != 2 {
		return nil, fmt.Errorf("%w (version %d)", ErrNotVirtio, t.version)
	}
	if got := regs.Read32(regDeviceID); got != id {
		return nil, fmt.Errorf("%w (device id %d)", wrong, got)
	}
	return t, nil
}

// allocQueues allocates the queues, of the given sizes, in one
// physically contiguous area: queue i is the device's queue i.
func (t *transport) allocQueues(alloc Alloc, sizes ...int) error {
	total := 0
	for _, s := range sizes {
		_, _, b := queueLayout(s)
		total += b
	}
	m, err := alloc(total, true)
	if err != nil {
		return fmt.Errorf("virtio: queue memory: %w", err)
	}
	t.qmem = m
	off := 0
	for i, s := range sizes {
		_, _, b := queueLayout(s)
		t.queues = append(t.queues, newQueue(uint32(i), s, m.Bytes()[off:off+b], m.PA(off)))
		off += b
	}
	return nil
}

// start resets the device and initialises it up to the point where the
// driver fills its queues (spec 3.1.1): ACKNOWLEDGE and DRIVER, the
// features of want the device offers (VERSION_1 only on the modern
// transport, where it is required, and FEATURES_OK checked; the features
// of together only when the device offers every one of them), each
// queue's size and addresses. The queues' memory is cleared. A device
// that refuses is left FAILED.
func (t *transport) start(want, together uint64) error {
	r := t.regs
	r.Write32(regStatus, 0)
	for _, q := range t.queues {
		q.reset()
	}
	r.Write32(regStatus, statusAcknowledge)
	t.status = statusAcknowledge | statusDriver
	r.Write32(regStatus, t.status)
	r.Write32(regDeviceFeatureSel, 0)
	offered := uint64(r.Read32(regDeviceFeatures))
	r.Write32(regDeviceFeatureSel, 1)
	offered |= uint64(r.Read32(regDeviceFeatures)) << 32
	if t.version == 1 {
		want &^= FeatureVersion1
	}
	t.feat = offered & want
	if t.feat&together != together&want {
		t.feat &^= together
	}
	r.Write32(regDriverFeatureSel, 0)
	r.Write32(regDriverFeatures, uint32(t.feat))
	r.Write32(regDriverFeatureSel, 1)
	r.Write32(regDriverFeatures, uint32(t.feat>>32))
	if t.version == 2 {
		if t.feat&FeatureVersion1 == 0 {
			t.fail()
			return fmt.Errorf("%w: a version 2 transport without VIRTIO_F_VERSION_1", ErrRefused)
		}
		t.status |= statusFeaturesOK
		r.Write32(regStatus, t.status)
		if r.Read32(regStatus)&statusFeaturesOK == 0 {
			t.fail()
			return fmt.Errorf("%w (features %#x)", ErrRefused, t.feat)
		}
	} else {
		r.Write32(regGuestPageSize, pageSize)
	}
	for _, q := range t.queues {
		if err := t.setupQueue(q); err != nil {
			t.fail()
			return err
		}
	}
	return nil
}

// fail sets FAILED: the driver gives up on the device.
func (t *transport) fail() { t.regs.Write32(regStatus, statusFailed) }

// setupQueue tells the device where queue q is.
func (t *transport) setupQueue(q *queue) error {
	r := t.regs
	r.Write32(regQueueSel, q.index)
	if t.version == 2 && r.Read32(regQueueReady) != 0 {
		return fmt.Errorf("virtio: queue %d is live after a reset", q.index)
	}
	if max := r.Read32(regQueueNumMax); max < uint32(q.size) {
		return fmt.Errorf("%w: queue %d holds %d, want %d", ErrSmallQueue, q.index, max, q.size)
	}
	r.Write32(regQueueNum, uint32(q.size))
	if t.version == 1 {
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

// live ends the set-up of a device with a receive and a transmit queue:
// every receive buffer offered, every transmit buffer free, DRIVER_OK,
// and the device told of the receive buffers.
func (t *transport) live(rx, tx *bufQueue) {
	rx.fill()
	tx.hold()
	rx.publish()
	t.regs.Write32(regStatus, t.status|statusDriverOK)
	t.notify(rx.queue)
}

// notify tells the device that queue q has new buffers.
func (t *transport) notify(q *queue) { t.regs.Write32(regQueueNotify, q.index) }

// kick publishes what was offered on q and notifies the device unless it
// asked not to be.
func (t *transport) kick(q *queue) {
	q.publish()
	if q.wantsNotify() {
		t.notify(q)
	}
}

// interrupt reads and acknowledges the interrupt status and returns its
// causes; needsReset when a configuration change was a modern device
// saying DEVICE_NEEDS_RESET (counted: the driver resets it).
func (t *transport) interrupt() (st uint32, needsReset bool) {
	st = t.regs.Read32(regInterruptStatus)
	if st != 0 {
		t.regs.Write32(regInterruptACK, st)
		t.c.Interrupts++
	}
	if st&intConfigChange != 0 {
		t.c.ConfigChanges++
		if t.version == 2 && t.regs.Read32(regStatus)&statusNeedsReset != 0 {
			t.c.NeedsReset++
			return st, true
		}
	}
	return st, false
}

// count counts fault f (the driver resets the device next).
func (t *transport) count(f fault) {
	switch f {
	case faultIndex:
		t.c.BadUsedIndex++
	case faultID:
		t.c.BadUsedID++
	case faultLen:
		t.c.BadUsedLen++
	}
}

// stop resets the device, so it stops using the memory it was given.
func (t *transport) stop() { t.regs.Write32(regStatus, 0) }
