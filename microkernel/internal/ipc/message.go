package ipc

import "sync"

// Message bounds.
const (
	// MaxMessageBytes bounds a message's payload (libipc.MaxMessageSize).
	MaxMessageBytes = 64 << 10
	// MaxMessageHandles bounds the handles in one message (libipc.MaxCaps).
	MaxMessageHandles = 4
)

// handleRef is a reference travelling in a message: the Object and the
// rights the receiver's handle will have.
type handleRef struct {
	obj    Object
	rights Rights
}

// message is a kernel copy of a message. Its payload buffer is reused
// through msgPool, so a steady stream of messages does not allocate.
type message struct {
	data  []byte
	refs  [MaxMessageHandles]handleRef
	nh    int
	reply *Reply // set for a call's request: the receiver gets a reply handle
	// direct is set for a call's answer: it goes straight to a caller
	// that is alive and waiting, so its handles are not counted in
	// flight (Collect treats them as held by the caller's table).
	direct bool
}

var msgPool = sync.Pool{New: func() any { return new(message) }}

// newMessage copies data into a pooled message (the copy-in).
func newMessage(data []byte) *message {
	m := msgPool.Get().(*message)
	m.data = append(m.data[:0], data...)
	return m
}

// slotsNeeded is the number of handle-table slots delivering m takes.
func (m *message) slotsNeeded() int {
	if m.reply != nil {
		return m.nh + 1
	}
	return m.nh
}

// recycle returns a message whose references were all moved out.
func (m *message) recycle() {
	if cap(m.data) > MaxMessageBytes/4 {
		m.data = nil // do not pin big buffers in the pool
	}
	m.data = m.data[:0]
	m.nh, m.reply, m.direct = 0, nil, false
	msgPool.Put(m)
}

// drop discards an undelivered message: the handles in it are closed (the
// last one of an endpoint shows its peer "peer closed") and a call waiting
// for a reply fails with EPIPE. The caller holds no lock.
func (m *message) drop() {
	for i := 0; i < m.nh; i++ {
		o := m.refs[i].obj
		m.refs[i] = handleRef{}
		if !m.direct {
			o.base().inFlight.Add(-1)
		}
		release(o)
	}
	if r := m.reply; r != nil {
		r.inFlight.Add(-1)
		release(r)
	}
	m.recycle()
}

// msgRing is a bounded FIFO of messages.
type msgRing struct {
	buf  [QueueLen]*message
	head int
	n    int
}

func (r *msgRing) push(m *message) {
	r.buf[(r.head+r.n)%QueueLen] = m
	r.n++
}

func (r *msgRing) peek() *message { return r.buf[r.head] }

func (r *msgRing) pop() *message {
	m := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % QueueLen
	r.n--
	return m
}

// at returns the i-th queued message (0 is the head).
func (r *msgRing) at(i int) *message { return r.buf[(r.head+i)%QueueLen] }
