package virtio

import (
	"errors"
	"fmt"
)

// Console defaults: 128 transmit entries (what QEMU's virtio-serial
// queues hold at most) of one 4 KiB page each, 512 KiB in flight; the
// receive queue keeps eight 512-byte buffers (one page) offered.
const (
	DefaultConsoleQueue = 128
	ConsoleBufSize      = 4096
	consoleRxEntries    = 8
	consoleRxBufSize    = 512
)

// ConsoleFeatures is what the console driver asks for: the modern
// interface when the transport is version 2, nothing else. Not asked:
// VIRTIO_CONSOLE_F_MULTIPORT (port 0 is the one port armos uses, and
// without it there are no control queues to run and no port-open
// handshake before the first byte), VIRTIO_CONSOLE_F_SIZE (no terminal
// here to size), VIRTIO_CONSOLE_F_EMERG_WRITE (a register write per
// byte; the transmit queue is the way out).
const ConsoleFeatures = FeatureVersion1

// ErrNotConsole: the device is not a virtio console.
var ErrNotConsole = errors.New("virtio: not a console device")

// ConsoleCounters are what the console driver counted.
type ConsoleCounters struct {
	TxBytes, TxChunks uint64 // handed to the device, in this many buffers
	TxRingFull        uint64 // Write calls that found no free buffer for some of their bytes
	TxLostInReset     uint64 // bytes the device held when it was reset
	RxBytes, RxChunks uint64 // input from the host, counted and discarded
	DeviceCounters
}

// ConsoleConfig sets up a Console.
type ConsoleConfig struct {
	QueueSize int // transmit entries (and buffers); 0 means DefaultConsoleQueue
}

// Console is a virtio console device driven through its first port
// (port 0: receiveq0 is queue 0, transmitq0 queue 1), without
// MULTIPORT. Bytes written are copied into free transmit buffers and
// offered; completed buffers are reclaimed at interrupts (Service) and
// whenever a Write finds too few free. Input is counted and dropped, its
// buffers offered again at once. It is not safe for concurrent use: the
// caller serialises Write, Service and Reset.
type Console struct {
	t      *transport
	size   int
	bufs   Mem // tx buffers, then the rx buffers' page
	rx, tx *bufQueue
	txLen  []int // by transmit id: the bytes it holds
	c      ConsoleCounters
}

// NewConsole checks that regs is a virtio console, allocates its queues
// and buffers with alloc, and brings it up.
func NewConsole(regs Regs, alloc Alloc, cfg ConsoleConfig) (*Console, error) {
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultConsoleQueue
	}
	if err := checkQueueSize(cfg.QueueSize); err != nil {
		return nil, err
	}
	t, err := probe(regs, deviceConsole, ErrNotConsole)
	if err != nil {
		return nil, err
	}
	c := &Console{t: t, size: cfg.QueueSize, txLen: make([]int, cfg.QueueSize)}
	if err := t.allocQueues(alloc, consoleRxEntries, c.size); err != nil {
		return nil, err
	}
	if c.bufs, err = alloc(c.size*ConsoleBufSize+consoleRxEntries*consoleRxBufSize, false); err != nil {
		return nil, fmt.Errorf("virtio: buffer memory: %w", err)
	}
	c.tx = newBufQueue(t.queues[queueTx], c.bufs, 0, ConsoleBufSize)
	c.rx = newBufQueue(t.queues[queueRx], c.bufs, c.size*ConsoleBufSize, consoleRxBufSize)
	if err := c.setup(); err != nil {
		return nil, err
	}
	return c, nil
}

// setup resets the device and initialises it: status, features, queues,
// DRIVER_OK with the receive buffers offered.
func (c *Console) setup() error {
	if err := c.t.start(ConsoleFeatures, 0); err != nil {
		return err
	}
	c.t.live(c.rx, c.tx)
	return nil
}

// Version is the transport's version: 1 legacy, 2 modern.
func (c *Console) Version() uint32 { return c.t.version }

// Features returns the negotiated feature bits.
func (c *Console) Features() uint64 { return c.t.feat }

// Counters returns the counters.
func (c *Console) Counters() ConsoleCounters {
	n := c.c
	n.DeviceCounters = c.t.c
	return n
}

// DMABytes is the DMA memory the console holds: its queues and buffers.
func (c *Console) DMABytes() int { return len(c.t.qmem.Bytes()) + len(c.bufs.Bytes()) }

// QueueSize is the number of transmit buffers.
func (c *Console) QueueSize() int { return c.size }

// TxFree returns how many transmit buffers the driver holds (free as of
// the last reclaim).
func (c *Console) TxFree() int { return len(c.tx.free) }

// TxHeld returns how many transmit buffers the device holds: bytes not
// yet confirmed sent.
func (c *Console) TxHeld() int { return c.tx.busy }

// RxPosted returns how many receive buffers the device holds.
func (c *Console) RxPosted() int { return c.rx.busy }

// Write hands as much of b to the device as free transmit buffers hold
// (ConsoleBufSize bytes each, in order), reclaiming finished buffers first
// when too few are free, and returns how many bytes it took. It never
// waits: a caller with bytes left waits for Service to reclaim buffers
// (after the next interrupt) and writes the rest. The buffers are
// published at once and the device notified once, unless it asked not
// to be.
func (c *Console) Write(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	if need := (len(b) + ConsoleBufSize - 1) / ConsoleBufSize; len(c.tx.free) < need {
		c.reclaim() // before any buffer of this call is offered: a reset loses none of them
	}
	n := 0
	for n < len(b) {
		id, buf, ok := c.tx.get()
		if !ok {
			break
		}
		k := copy(buf, b[n:])
		c.tx.put(id, k)
		c.txLen[id] = k
		n += k
		c.c.TxChunks++
	}
	if n > 0 {
		c.t.kick(c.tx.queue)
		c.c.TxBytes += uint64(n)
	}
	if n < len(b) {
		c.c.TxRingFull++
	}
	return n
}

// reclaim takes back the transmit buffers the device is done with. A
// fault resets the device.
func (c *Console) reclaim() {
	if f := c.tx.reclaim(nil); f != faultNone {
		c.recover(f)
	}
}

// Service handles the device after an interrupt (or when polled): it
// acknowledges the interrupt, counts and drops any input (offering its
// buffers again) and reclaims transmit buffers. It returns how many
// transmit buffers became free.
func (c *Console) Service() int {
	before := len(c.tx.free)
	// A configuration change means nothing without SIZE or MULTIPORT;
	// only DEVICE_NEEDS_RESET is acted on.
	if _, needsReset := c.t.interrupt(); needsReset {
		c.reset()
		return max(0, len(c.tx.free)-before)
	}
	f := c.rx.recycle(c.t, func(_ uint16, length uint32) {
		c.c.RxChunks++
		c.c.RxBytes += uint64(length)
	})
	if f != faultNone {
		c.recover(f)
	} else {
		c.reclaim()
	}
	return max(0, len(c.tx.free)-before)
}

// recover counts fault f and resets the device.
func (c *Console) recover(f fault) {
	c.t.count(f)
	c.reset()
}

// reset resets the device and sets it up again: the bytes it held for
// transmission are lost (counted), every transmit buffer is free.
func (c *Console) reset() {
	c.t.c.Resets++
	for id, out := range c.tx.inflight {
		if out {
			c.c.TxLostInReset += uint64(c.txLen[id])
		}
	}
	if err := c.setup(); err != nil {
		// The device refused what it accepted before: leave it failed;
		// Write then makes no progress, and writers give up waiting.
		c.tx.free = c.tx.free[:0]
	}
}

// Reset resets the device and sets it up again (an operator's request,
// or a watchdog's).
func (c *Console) Reset() { c.reset() }

// Stop resets the device, so it stops using the memory it was given.
func (c *Console) Stop() { c.t.stop() }
