package virtio

import (
	"encoding/binary"
	"fmt"
)

// fakeMem is DMA memory of the simulated machine: its pages sit at
// device addresses chosen by the bus, consecutive only when allocated
// contiguous.
type fakeMem struct {
	b     []byte
	pages []uint64
}

func (m *fakeMem) Bytes() []byte { return m.b }
func (m *fakeMem) PA(off int) uint64 {
	return m.pages[off/pageSize] + uint64(off%pageSize)
}

// bus is the simulated machine's memory: pages by device address.
type bus struct {
	next  uint64
	pages map[uint64][]byte
}

func newBus() *bus { return &bus{next: 0x4000_0000, pages: map[uint64][]byte{}} }

// alloc is an Alloc: non-contiguous memory gets every other page, so a
// driver that assumed contiguity would go wrong.
func (b *bus) alloc(size int, contiguous bool) (Mem, error) {
	n := roundUp(size, pageSize) / pageSize
	m := &fakeMem{b: make([]byte, n*pageSize)}
	for i := 0; i < n; i++ {
		pa := b.next
		b.next += pageSize
		if !contiguous {
			b.next += pageSize
		}
		m.pages = append(m.pages, pa)
		b.pages[pa] = m.b[i*pageSize : (i+1)*pageSize]
	}
	return m, nil
}

// at returns n bytes at device address pa (within one page), or nil.
func (b *bus) at(pa uint64, n int) []byte {
	p := b.pages[pa&^(pageSize-1)]
	off := int(pa % pageSize)
	if p == nil || off+n > pageSize {
		return nil
	}
	return p[off : off+n]
}

// read copies n bytes at device address pa, which may run over
// consecutive pages (memory allocated contiguous), or returns nil when
// any of them is not driver memory.
func (b *bus) read(pa uint64, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		k := min(n-len(out), pageSize-int(pa%pageSize))
		p := b.at(pa, k)
		if p == nil {
			return nil
		}
		out = append(out, p...)
		pa += uint64(k)
	}
	return out
}

// fakeQueue is the device's view of one queue.
type fakeQueue struct {
	num              uint32
	desc, avail, use uint64 // device addresses
	pfn              uint32
	ready            uint32
	lastAvail        uint16
	usedIdx          uint16
}

// fakeDev is a simulated virtio device on the virtio-mmio transport,
// legacy or modern, with a bus to reach driver memory: a network device
// (newFakeNet) or a console (newFakeConsole: port 0 only, its receiveq0
// and transmitq0 as queues 0 and 1, no configuration space read). It
// answers synchronously: a transmit notify consumes the buffers at once,
// unless stalled.
type fakeDev struct {
	bus      *bus
	id       uint32 // deviceNet or deviceConsole
	version  uint32
	features uint64
	mac      [6]byte
	link     uint16
	queueMax uint32

	status, devSel, drvSel uint32
	driverFeat             uint64
	pageSize, align        uint32
	sel                    uint32
	q                      [2]fakeQueue
	isr                    uint32
	notifies               [2]int

	stalled bool     // a notify consumes nothing (a slow host)
	sent    [][]byte // frames (or console buffers) the driver transmitted
	hdrs    [][]byte // network: each transmitted frame's virtio-net header
	txDescs []txDesc // each transmitted buffer's descriptor
	stream  []byte   // console: every byte transmitted, in order
	errors  []string // the driver broke a rule
}

// txDesc is a transmit descriptor as the device found it.
type txDesc struct {
	id     uint16
	addr   uint64
	length uint32
}

// Receive offloads a device may offer (spec 5.1.3) that the driver must
// not take: received frames are to arrive fully checksummed.
const (
	featureGuestCSUM = 1 << 1
	featureGuestTSO4 = 1 << 7
)

// newFakeNet is a network device that offers CSUM (and MRG_RXBUF)
// besides what the driver always takes, but not HOST_TSO4 (offload adds
// it).
func newFakeNet(version uint32) *fakeDev {
	return &fakeDev{bus: newBus(), id: deviceNet, version: version, features: FeatureMAC | FeatureStatus | FeatureVersion1 | 1<<0 | 1<<15,
		mac: [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, link: linkUp, queueMax: 1024}
}

// offload makes d offer what QEMU's virtio-net offers on a tap with
// vnet_hdr: the transmit offloads and the receive ones.
func (d *fakeDev) offload() *fakeDev {
	d.features |= FeatureCSUM | FeatureHostTSO4 | featureGuestCSUM | featureGuestTSO4
	return d
}

// Console feature bits the fake offers and the driver must not take
// (spec 5.3.3).
const (
	consoleFSize       = 1 << 0
	consoleFMultiport  = 1 << 1
	consoleFEmergWrite = 1 << 2
)

// newFakeConsole is a console as QEMU's virtio-serial offers it: SIZE,
// MULTIPORT and EMERG_WRITE besides VERSION_1, 128-entry queues.
func newFakeConsole(version uint32) *fakeDev {
	return &fakeDev{bus: newBus(), id: deviceConsole, version: version,
		features: FeatureVersion1 | consoleFSize | consoleFMultiport | consoleFEmergWrite, queueMax: 128}
}

func (d *fakeDev) fail(format string, a ...any) {
	d.errors = append(d.errors, fmt.Sprintf(format, a...))
}

func (d *fakeDev) hdr() int {
	if d.id == deviceConsole {
		return 0 // console buffers are bare bytes
	}
	if d.driverFeat&FeatureVersion1 != 0 {
		return modernHdr
	}
	return legacyHdr
}

func (d *fakeDev) Read32(off uint32) uint32 {
	q := &d.q[min(d.sel, 1)]
	switch off {
	case regMagic:
		return magicValue
	case regVersion:
		return d.version
	case regDeviceID:
		return d.id
	case regDeviceFeatures:
		f := d.features
		if d.version == 1 {
			f &= 0xffffffff
		}
		return uint32(f >> (32 * (d.devSel & 1)))
	case regQueueNumMax:
		return d.queueMax
	case regQueueReady:
		return q.ready
	case regQueuePFN:
		return q.pfn
	case regInterruptStatus:
		return d.isr
	case regStatus:
		return d.status
	case cfgMAC:
		if d.id == deviceNet {
			return binary.LittleEndian.Uint32(d.mac[:4])
		}
	case cfgMAC + 4:
		if d.id == deviceNet {
			return uint32(d.mac[4]) | uint32(d.mac[5])<<8 | uint32(d.link)<<16
		}
	}
	d.fail("read of register %#x", off)
	return 0
}

func (d *fakeDev) Write32(off uint32, v uint32) {
	q := &d.q[min(d.sel, 1)]
	switch off {
	case regDeviceFeatureSel:
		d.devSel = v
	case regDriverFeatureSel:
		d.drvSel = v
	case regDriverFeatures:
		shift := 32 * uint64(d.drvSel&1)
		d.driverFeat = d.driverFeat&^(0xffffffff<<shift) | uint64(v)<<shift
	case regGuestPageSize:
		d.pageSize = v
	case regQueueSel:
		d.sel = v
	case regQueueNum:
		q.num = v
	case regQueueAlign:
		d.align = v
	case regQueuePFN:
		q.pfn = v
		base := uint64(v) * uint64(d.pageSize)
		q.desc, q.avail = base, base+16*uint64(q.num)
		q.use = (q.avail + 6 + 2*uint64(q.num) + uint64(d.align) - 1) / uint64(d.align) * uint64(d.align)
	case regQueueDescLow, regQueueDescLow + 4:
		setHalf(&q.desc, off-regQueueDescLow, v)
	case regQueueDriverLow, regQueueDriverLow + 4:
		setHalf(&q.avail, off-regQueueDriverLow, v)
	case regQueueDeviceLow, regQueueDeviceLow + 4:
		setHalf(&q.use, off-regQueueDeviceLow, v)
	case regQueueReady:
		q.ready = v
	case regQueueNotify:
		if v > 1 {
			d.fail("notify of queue %d", v)
			return
		}
		d.notifies[v]++
		if v == queueTx && !d.stalled {
			d.transmit()
		}
	case regInterruptACK:
		d.isr &^= v
	case regStatus:
		if v == 0 {
			d.reset()
			return
		}
		if v&statusFeaturesOK != 0 && d.version == 2 && d.driverFeat&^d.features != 0 {
			v &^= statusFeaturesOK // features never offered: refused
		}
		d.status = v
	default:
		d.fail("write of register %#x", off)
	}
}

func setHalf(p *uint64, half uint32, v uint32) {
	if half == 0 {
		*p = *p&^0xffffffff | uint64(v)
	} else {
		*p = *p&0xffffffff | uint64(v)<<32
	}
}

func (d *fakeDev) reset() {
	d.status, d.driverFeat, d.isr, d.sel = 0, 0, 0, 0
	d.q = [2]fakeQueue{}
}

// avail returns the driver's available index of queue q.
func (d *fakeDev) availIdx(q *fakeQueue) uint16 {
	return binary.LittleEndian.Uint16(d.bus.at(q.avail+2, 2))
}

// nextAvail takes queue q's next available descriptor: its id, device
// address and length; ok false when none.
func (d *fakeDev) nextAvail(q *fakeQueue) (id uint16, addr uint64, length uint32, flags uint16, ok bool) {
	if q.num == 0 || d.status&statusDriverOK == 0 || q.lastAvail == d.availIdx(q) {
		return 0, 0, 0, 0, false
	}
	id = binary.LittleEndian.Uint16(d.bus.at(q.avail+4+2*uint64(uint32(q.lastAvail)%q.num), 2))
	q.lastAvail++
	if uint32(id) >= q.num {
		d.fail("available descriptor %d of %d", id, q.num)
		return 0, 0, 0, 0, false
	}
	desc := d.bus.at(q.desc+16*uint64(id), 16)
	return id, binary.LittleEndian.Uint64(desc), binary.LittleEndian.Uint32(desc[8:]),
		binary.LittleEndian.Uint16(desc[12:]), true
}

// pushUsed appends a used entry to queue q and raises the interrupt.
func (d *fakeDev) pushUsed(q *fakeQueue, id, length uint32) {
	e := d.bus.at(q.use+4+8*uint64(uint32(q.usedIdx)%q.num), 8)
	binary.LittleEndian.PutUint32(e, id)
	binary.LittleEndian.PutUint32(e[4:], length)
	q.usedIdx++
	d.setUsedIdx(q, q.usedIdx)
}

// setUsedIdx writes queue q's used index (a misbehaving device may lie).
func (d *fakeDev) setUsedIdx(q *fakeQueue, idx uint16) {
	binary.LittleEndian.PutUint16(d.bus.at(q.use+2, 2), idx)
	d.isr |= intUsedBuffer
}

// transmit consumes every available transmit buffer (a console's bytes
// join the stream).
func (d *fakeDev) transmit() {
	q := &d.q[queueTx]
	for {
		id, addr, length, flags, ok := d.nextAvail(q)
		if !ok {
			return
		}
		if flags&descWrite != 0 || int(length) < d.hdr() || d.id == deviceConsole && length == 0 {
			d.fail("transmit descriptor %d: flags %#x length %d", id, flags, length)
		}
		b := d.bus.read(addr, int(length))
		if b == nil {
			d.fail("transmit descriptor %d at %#x+%d: not driver memory", id, addr, length)
			return
		}
		if d.id == deviceNet {
			if int(length) > BufSize && (d.driverFeat&FeatureHostTSO4 == 0 || b[hdrFlags] != hdrNeedsCsum) {
				d.fail("transmit descriptor %d: %d bytes, not an offloaded frame", id, length)
			}
			d.checkHeader(b[:d.hdr()], len(b)-d.hdr())
			d.hdrs = append(d.hdrs, b[:d.hdr()])
		}
		d.txDescs = append(d.txDescs, txDesc{id, addr, length})
		d.sent = append(d.sent, b[d.hdr():])
		if d.id == deviceConsole {
			d.stream = append(d.stream, b...)
		}
		d.pushUsed(q, uint32(id), 0)
	}
}

// checkHeader checks a transmitted frame's virtio-net header h against
// the negotiated features (spec 5.1.6.2): all zero without CSUM, and for
// a frame with nothing to do (flags 0: this driver zeroes the rest); with
// NEEDS_CSUM, a checksum field within the frame of n bytes and, to cut
// it, HOST_TSO4 negotiated, a gso_size and hdr_len within the frame.
func (d *fakeDev) checkHeader(h []byte, n int) {
	zero := true
	for _, x := range h {
		zero = zero && x == 0
	}
	switch {
	case zero:
	case d.driverFeat&FeatureCSUM == 0 || h[hdrFlags] != hdrNeedsCsum:
		d.fail("transmit header % x with features %#x", h, d.driverFeat)
	case int(le.Uint16(h[hdrCsumStart:]))+int(le.Uint16(h[hdrCsumOffset:]))+2 > n:
		d.fail("transmit header % x: checksum outside the %d-byte frame", h, n)
	case h[hdrGSOType] == gsoNone:
	case h[hdrGSOType] != gsoTCPv4 || d.driverFeat&FeatureHostTSO4 == 0 || le.Uint16(h[hdrGSOSize:]) == 0 ||
		int(le.Uint16(h[hdrHdrLen:])) > n:
		d.fail("transmit header % x with features %#x for a %d-byte frame", h, d.driverFeat, n)
	}
	if len(h) == modernHdr && le.Uint16(h[legacyHdr:]) != 0 {
		d.fail("transmit header % x: num_buffers set", h)
	}
}

// receive puts frame (console: input bytes) into the next receive
// buffer; false when the driver has none posted.
func (d *fakeDev) receive(frame []byte) bool {
	q := &d.q[queueRx]
	id, addr, length, flags, ok := d.nextAvail(q)
	if !ok {
		return false
	}
	n := d.hdr() + len(frame)
	if flags&descWrite == 0 || int(length) < n {
		d.fail("receive descriptor %d: flags %#x length %d for %d bytes", id, flags, length, n)
		return false
	}
	b := d.bus.at(addr, n)
	if b == nil {
		d.fail("receive descriptor %d at %#x: not driver memory", id, addr)
		return false
	}
	clear(b[:d.hdr()])
	copy(b[d.hdr():], frame)
	d.pushUsed(q, uint32(id), uint32(n))
	return true
}

// setLink changes the link status and raises a configuration interrupt.
func (d *fakeDev) setLink(up bool) {
	d.link = 0
	if up {
		d.link = linkUp
	}
	d.isr |= intConfigChange
}

// setNoNotify sets or clears queue q's VIRTQ_USED_F_NO_NOTIFY: the
// device asks not to be notified.
func (d *fakeDev) setNoNotify(q *fakeQueue, on bool) {
	var f uint16
	if on {
		f = usedNoNote
	}
	binary.LittleEndian.PutUint16(d.bus.at(q.use, 2), f)
}
