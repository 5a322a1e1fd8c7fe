package libipc

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Message buffers. The in-memory transport copies Data on send, as the kernel
// will; the copies come from a bounded free list with a few size classes so
// that a steady stream of messages reuses the same buffers.
//
// Ownership: a buffer handed out with a received Message belongs to the
// receiver. It may keep it as long as it likes and let the garbage collector
// take it, or give it back with Message.Release once nothing refers to it any
// more (Conn does this for replies it has decoded and for typed handlers'
// requests, see Request.Body). Releasing a buffer that is still in use is a
// use-after-free: the next message will overwrite it.

// Bounds of the message buffer free list.
const (
	// BufFreeLen is how many free buffers each size class keeps; buffers
	// released to a full class are left to the garbage collector and counted
	// in BufStats.Discarded.
	BufFreeLen = 64
)

// bufClasses are the buffer capacities handed out, smallest first; the last
// one holds MaxMessageSize.
var bufClasses = [...]int{256, 2 << 10, 16 << 10, MaxMessageSize}

// BufStats counts the message buffer free list's activity (all transports
// of the process together).
type BufStats struct {
	Reused    uint64 // buffers taken from the free list
	Allocated uint64 // buffers allocated because the class's free list was empty
	Released  uint64 // buffers put back on the free list
	Discarded uint64 // buffers not kept: class full, or a capacity of no class
}

var msgBufs struct {
	mu   sync.Mutex
	free [len(bufClasses)][][]byte

	reused, allocated, released, discarded atomic.Uint64
}

// bufClass returns the index of the smallest class holding n bytes, or -1.
func bufClass(n int) int {
	for i, c := range bufClasses {
		if n <= c {
			return i
		}
	}
	return -1
}

// getBuf returns an empty buffer of the smallest class holding n bytes (the
// largest class if none does), from the free list when it has one.
func getBuf(n int) []byte {
	k := bufClass(n)
	if k < 0 {
		k = len(bufClasses) - 1
	}
	msgBufs.mu.Lock()
	if f := msgBufs.free[k]; len(f) > 0 {
		b := f[len(f)-1]
		f[len(f)-1] = nil
		msgBufs.free[k] = f[:len(f)-1]
		msgBufs.mu.Unlock()
		msgBufs.reused.Add(1)
		return b[:0]
	}
	msgBufs.mu.Unlock()
	msgBufs.allocated.Add(1)
	return make([]byte, 0, bufClasses[k])
}

// copyToBuf returns a copy of b in a buffer from the free list (or a fresh
// one when the class is empty). len(b) must not exceed MaxMessageSize.
func copyToBuf(b []byte) []byte {
	k := bufClass(len(b))
	if k < 0 { // callers check the bound; never alias the sender's bytes
		return append([]byte(nil), b...)
	}
	var buf []byte
	msgBufs.mu.Lock()
	if f := msgBufs.free[k]; len(f) > 0 {
		buf = f[len(f)-1]
		f[len(f)-1] = nil
		msgBufs.free[k] = f[:len(f)-1]
	}
	msgBufs.mu.Unlock()
	if buf == nil {
		msgBufs.allocated.Add(1)
		buf = make([]byte, 0, bufClasses[k])
	} else {
		msgBufs.reused.Add(1)
	}
	return append(buf[:0], b...)
}

// releaseBuf puts b back on the free list if its capacity is exactly one of
// the classes and the class has room.
func releaseBuf(b []byte) {
	if b == nil {
		return
	}
	if f := foreign.Load(); f != nil {
		for _, src := range *f {
			if src.Owns(b) {
				src.PutBuf(b)
				return
			}
		}
	}
	k := bufClass(cap(b))
	if k < 0 || cap(b) != bufClasses[k] {
		msgBufs.discarded.Add(1)
		return
	}
	msgBufs.mu.Lock()
	if len(msgBufs.free[k]) >= BufFreeLen {
		msgBufs.mu.Unlock()
		msgBufs.discarded.Add(1)
		return
	}
	msgBufs.free[k] = append(msgBufs.free[k], b[:0])
	msgBufs.mu.Unlock()
	msgBufs.released.Add(1)
}

// foreign holds the PostSources whose buffers may come to releaseBuf
// (SetPostSourceMixed): such a buffer goes back to its source, never to
// the free list, where it would carry other messages while its owner
// (a device) uses it. Copied on write; a handful at most.
var (
	foreign   atomic.Pointer[[]PostSource]
	foreignMu sync.Mutex
)

// RegisterPostSource makes every buffer of src (src.Owns) that reaches
// ReleaseBuffer, Message.Release or Request.ReleaseBody go back to src
// (PutBuf) instead of libipc's free list: for a source whose buffers a
// Message may carry anywhere in the process (SetPostSourceMixed
// registers its source). Registering again does nothing.
func RegisterPostSource(src PostSource) {
	foreignMu.Lock()
	defer foreignMu.Unlock()
	var cur []PostSource
	if f := foreign.Load(); f != nil {
		cur = *f
	}
	for _, s := range cur {
		if s == src {
			return
		}
	}
	next := append(slices.Clip(cur), src)
	foreign.Store(&next)
}

// Release gives m.Data back to the transport's buffer free list and sets it
// to nil. Call it only on a received Message whose Data (and every slice of
// it) is no longer used; the buffer will carry another message next. Caps are
// not touched. Releasing a Message whose Data came from elsewhere is safe:
// a buffer of no size class is simply left to the garbage collector.
func (m *Message) Release() {
	releaseBuf(m.Data)
	m.Data = nil
}

// ReleaseBuffer gives a message buffer taken from a request
// (Request.TakeBuffer) back to the free list, as Message.Release does; a
// buffer of no size class is left to the garbage collector.
func ReleaseBuffer(b []byte) { releaseBuf(b) }

// MessageBufStats returns the counters of the message buffer free list.
func MessageBufStats() BufStats {
	return BufStats{
		Reused: msgBufs.reused.Load(), Allocated: msgBufs.allocated.Load(),
		Released: msgBufs.released.Load(), Discarded: msgBufs.discarded.Load(),
	}
}
