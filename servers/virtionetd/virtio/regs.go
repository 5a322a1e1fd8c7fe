// Package virtio drives virtio devices over virtio-mmio from user space:
// the transport registers (legacy version 1, QEMU 7.2's default, and
// modern version 2), split virtqueues in DMA memory, and two devices on
// them — the network device's receive and transmit queues (NIC) and the
// console device's first port (Console) (Virtual I/O Device spec 1.2,
// sections 2.7, 3.1, 4.2, 5.1 and 5.3), the network device with TCP
// segmentation offload when it offers it (tso.go). Both share the
// transport's set-up, interrupt handling and fault checks (transport.go,
// queue.go).
//
// The package knows nothing of armos's system calls: it reaches the
// device through Regs (register reads and writes) and DMA memory through
// Mem (bytes this process sees, and the addresses the device uses), so it
// runs on the host against a simulated device in its tests, and in armos
// against the granted device (servers/virtionetd, servers/virtioconsd;
// package granted has their armos side).
//
// A device is trusted with nothing: every used-ring entry is checked
// (index progress, descriptor id, length) before the driver looks at the
// buffer it names, and a device that breaks the rules is reset and
// counted, never followed.
package virtio

// Regs reaches the device's registers: 32-bit reads and writes at byte
// offsets of its virtio-mmio slot.
type Regs interface {
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
}

// Mem is DMA memory: Bytes is its mapping in this process, PA the
// address the device uses for byte off. Memory of one Mem need not be
// physically contiguous beyond a page unless it was allocated so.
type Mem interface {
	Bytes() []byte
	PA(off int) uint64
}

// Alloc allocates DMA memory of size bytes, zeroed; contiguous asks for
// physically contiguous pages.
type Alloc func(size int, contiguous bool) (Mem, error)

// virtio-mmio registers (spec 4.2.2; legacy 4.2.4).
const (
	regMagic            = 0x000
	regVersion          = 0x004
	regDeviceID         = 0x008
	regDeviceFeatures   = 0x010
	regDeviceFeatureSel = 0x014
	regDriverFeatures   = 0x020
	regDriverFeatureSel = 0x024
	regGuestPageSize    = 0x028 // legacy
	regQueueSel         = 0x030
	regQueueNumMax      = 0x034
	regQueueNum         = 0x038
	regQueueAlign       = 0x03c // legacy
	regQueuePFN         = 0x040 // legacy
	regQueueReady       = 0x044 // modern
	regQueueNotify      = 0x050
	regInterruptStatus  = 0x060
	regInterruptACK     = 0x064
	regStatus           = 0x070
	regQueueDescLow     = 0x080 // modern, and the High halves at +4
	regQueueDriverLow   = 0x090
	regQueueDeviceLow   = 0x0a0
	regConfig           = 0x100

	magicValue    = 0x74726976 // "virt"
	deviceNet     = 1
	deviceConsole = 3
)

// Device status bits (spec 2.1).
const (
	statusAcknowledge = 1
	statusDriver      = 2
	statusDriverOK    = 4
	statusFeaturesOK  = 8
	statusNeedsReset  = 64
	statusFailed      = 128
)

// Interrupt status bits.
const (
	intUsedBuffer   = 1
	intConfigChange = 2
)

// Feature bits this driver knows (spec 5.1.3, 6).
const (
	FeatureCSUM     = 1 << 0  // VIRTIO_NET_F_CSUM: the device completes a transmitted frame's checksum
	FeatureMAC      = 1 << 5  // VIRTIO_NET_F_MAC: the device has an address
	FeatureHostTSO4 = 1 << 11 // VIRTIO_NET_F_HOST_TSO4: the device segments transmitted IPv4 TCP (needs CSUM)
	FeatureStatus   = 1 << 16 // VIRTIO_NET_F_STATUS: link status in config
	FeatureVersion1 = 1 << 32 // VIRTIO_F_VERSION_1: the modern interface
)

// The network device's configuration (spec 5.1.4) and link status bit.
const (
	cfgMAC     = regConfig + 0
	cfgStatus  = regConfig + 6
	linkUp     = 1
	pageSize   = 4096
	legacyHdr  = 10 // struct virtio_net_hdr without num_buffers
	modernHdr  = 12 // with num_buffers (VERSION_1)
	queueRx    = 0
	queueTx    = 1
	descWrite  = 2 // VIRTQ_DESC_F_WRITE: the device writes this buffer
	usedNoNote = 1 // VIRTQ_USED_F_NO_NOTIFY
)

// struct virtio_net_hdr (spec 5.1.6): u8 flags, u8 gso_type, then
// hdr_len, gso_size, csum_start and csum_offset as 16-bit fields at
// these offsets (little-endian: the modern interface's le16, and the
// legacy interface's guest-endian on a little-endian arm64), and, in the
// modern 12-byte header, num_buffers (zero on transmit).
const (
	hdrFlags      = 0
	hdrGSOType    = 1
	hdrHdrLen     = 2
	hdrGSOSize    = 4
	hdrCsumStart  = 6
	hdrCsumOffset = 8

	hdrNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: complete the checksum at csum_start+csum_offset
	gsoNone      = 0 // VIRTIO_NET_HDR_GSO_NONE
	gsoTCPv4     = 1 // VIRTIO_NET_HDR_GSO_TCPV4
)
