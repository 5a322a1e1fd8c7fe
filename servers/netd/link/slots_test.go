package link

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libipc/skbuff"
)

// slotCap stands for a slot's shared-memory object in tests: the memory
// it maps to.
type slotCap struct {
	mem    []byte
	closed bool
}

func (c *slotCap) Close() error { c.closed = true; return nil }

func mapTestSlot(h libipc.Cap, size int) ([]byte, error) {
	c, ok := h.(*slotCap)
	if !ok {
		return nil, ErrBadSlots
	}
	return c.mem[:size], nil
}

// newTestShare returns a share holding n slots of size bytes (none lent)
// and the memory of each, and records what it unmaps.
func newTestShare(t *testing.T, n, size int) (*SlotShare, [][]byte, *[][]byte) {
	unmapped := new([][]byte)
	s := NewSlotShare(func(b []byte) { *unmapped = append(*unmapped, b) })
	var caps []libipc.Cap
	var mems [][]byte
	for range n {
		m := make([]byte, size)
		mems = append(mems, m)
		caps = append(caps, &slotCap{mem: m})
	}
	require.NoError(t, s.add(0, size, 1, caps, mapTestSlot))
	return s, mems, unmapped
}

func same(a, b []byte) bool { return &a[0] == &b[0] }

// A slot is posted only while netd holds it and nothing uses it; sending
// a frame from it gives it back to the driver, and only a new lend makes
// it postable again. Lends of what netd holds are refused and counted.
func TestSlotShareOwnership(t *testing.T) {
	s, mems, _ := newTestShare(t, 3, 4096)
	assert.Nil(t, s.PostBuf(), "nothing lent yet")
	s.lend(0b011)
	a, b := s.PostBuf(), s.PostBuf()
	require.NotNil(t, a)
	require.NotNil(t, b)
	assert.Nil(t, s.PostBuf(), "two lent, two posted")
	assert.Len(t, a, 4096)
	assert.Equal(t, 4096, cap(a), "a whole slot, no more")
	assert.True(t, s.Owns(a[100:]))
	assert.False(t, s.Owns(make([]byte, 8)))

	// A frame at offset 40 of a: taken for sending.
	frame := a[40:1000]
	tx, ok := s.take(frame)
	require.True(t, ok)
	want := 0
	if same(a, mems[1]) {
		want = 1
	}
	assert.Equal(t, TxSlot{Slot: want, Off: 40, Len: 960}, tx)
	_, ok = s.take(frame)
	assert.False(t, ok, "the driver's now")
	s.PutBuf(a)
	assert.Nil(t, s.PostBuf(), "put back, but no longer netd's")
	s.lend(1 << want)
	c := s.PostBuf()
	require.NotNil(t, c)
	assert.True(t, same(a, c), "lent again, posted again")

	// No room for the driver's header: not taken, counted.
	_, ok = s.take(b[4:100])
	assert.False(t, ok)
	assert.EqualValues(t, 1, s.Stats().NoRoom)

	// A message that did not go: the slot is netd's again.
	tx, ok = s.take(b[SlotHeadroom:200])
	require.True(t, ok)
	s.untake(tx.Slot)
	s.PutBuf(b)
	assert.NotNil(t, s.PostBuf(), "free once put back")

	s.lend(0b001 | 0b010) // held already (both)
	s.lend(1 << 9)        // no such slot
	st := s.Stats()
	assert.EqualValues(t, 3, st.BadLends)
	assert.EqualValues(t, 3, st.Lent)
	assert.EqualValues(t, 1, st.Sent)
	assert.Equal(t, 3, st.Slots)
	assert.Equal(t, 2, st.Held)
}

// When the driver goes, its slots are posted no more; each is unmapped
// once nothing uses it, and still owned (never handed to libipc's free
// list) until then. The next driver's slots start again at number 0.
func TestSlotShareRetire(t *testing.T) {
	s, mems, unmapped := newTestShare(t, 2, 4096)
	s.lend(0b11)
	inUse := s.PostBuf()
	require.NotNil(t, inUse)
	s.Retire()
	assert.Len(t, *unmapped, 1, "the unused slot at once")
	assert.Nil(t, s.PostBuf())
	assert.True(t, s.Owns(inUse), "still the share's while used")
	_, ok := s.take(inUse[SlotHeadroom:100])
	assert.False(t, ok, "not sent through the next driver")
	s.PutBuf(inUse)
	assert.Len(t, *unmapped, 2)
	assert.False(t, s.Owns(inUse))
	assert.EqualValues(t, 2, s.Stats().Retired)
	_ = mems

	// A second driver shares its own slots.
	m := make([]byte, 4096)
	require.NoError(t, s.add(0, 4096, 1, []libipc.Cap{&slotCap{mem: m}}, mapTestSlot))
	s.lend(1)
	assert.True(t, same(m, s.PostBuf()))
	// Out of order, too many, or unmappable: refused.
	assert.ErrorIs(t, s.add(5, 4096, 1, []libipc.Cap{&slotCap{mem: m}}, mapTestSlot), ErrBadSlots)
	assert.Error(t, s.add(1, 4096, 1, []libipc.Cap{&slotCap{}}, func(libipc.Cap, int) ([]byte, error) { return nil, ErrBadSlots }))
	assert.Equal(t, 1, s.Stats().Slots)

	// A third driver shares two slots in one object: the mapping goes
	// with the last of them.
	s.Retire()
	*unmapped = nil
	run := make([]byte, 2*4096)
	require.NoError(t, s.add(0, 4096, 2, []libipc.Cap{&slotCap{mem: run}}, mapTestSlot))
	s.lend(0b11)
	first := s.PostBuf()
	require.NotNil(t, first)
	s.Retire()
	assert.Empty(t, *unmapped, "one slot of the object still used")
	s.PutBuf(first)
	require.Len(t, *unmapped, 1)
	assert.Len(t, (*unmapped)[0], 2*4096, "the whole object")
}

// A buffer in a share's slot that reaches libipc's release goes back to
// the share (SetPostSourceMixed registers it), never to libipc's free
// list, where another message would be written over a frame the device
// reads.
func TestSlotShareReleasedThroughLibipc(t *testing.T) {
	s, _, _ := newTestShare(t, 1, libipc.MaxMessageSize)
	libipc.RegisterPostSource(s)
	s.lend(1)
	b := s.PostBuf()
	require.NotNil(t, b)
	m := libipc.Message{Data: b[:100]}
	m.Release()
	assert.True(t, same(b, s.PostBuf()), "back in the share, postable")
}

// netd sends a frame that lies in a slot it holds as OpTxSlot: the
// driver's handler gets the slot, offset, length and GSO size, and no
// frame message. Frames elsewhere go as before.
func TestChanSendsFrameInSlot(t *testing.T) {
	a, b := libipc.NewPair(16)
	netd, driver := NewChan(a), NewChan(b)
	defer netd.Close()
	defer driver.Close()
	share := NewSlotShare(nil)
	netd.UseShare(share, mapTestSlot)
	var got []TxSlot
	driver.OnTxSlot(func(t TxSlot) { got = append(got, t) })

	const size = 64 << 10
	run := make([]byte, 2*size) // two slots in one object
	mems := [][]byte{run[:size], run[size:]}
	require.NoError(t, driver.SendSlots(0, size, 2, []libipc.Cap{&slotCap{mem: run}}))
	require.NoError(t, driver.SendLend(0b10))
	f := skbuff.Get()
	require.NoError(t, f.Append([]byte("from the driver")))
	require.NoError(t, driver.Transmit(f))
	in := skbuff.Get()
	defer in.Free()
	require.NoError(t, netd.ReadBuf(in), "slot messages taken on the way")
	assert.Equal(t, "from the driver", string(in.Bytes()))
	require.Equal(t, 2, share.Stats().Slots)
	require.Equal(t, 1, share.Stats().Held)

	slot := share.PostBuf()
	require.True(t, same(slot, mems[1]))
	put := 0
	out, err := skbuff.Default.View(slot, 100, ownerFunc(func(b []byte) { put++; share.PutBuf(b) }))
	require.NoError(t, err)
	require.NoError(t, out.Append([]byte("a segment built in the slot")))
	out.GSOSize = 1448
	require.NoError(t, netd.Transmit(out))
	assert.Equal(t, 1, put, "the buffer was freed")
	plain := skbuff.Get()
	require.NoError(t, plain.Append([]byte("elsewhere")))
	require.NoError(t, netd.Transmit(plain))

	buf := skbuff.Get()
	defer buf.Free()
	var frames []string
	require.NoError(t, driver.ReadFrameInPlace(buf, func(frame []byte, _ uint16) { frames = append(frames, string(frame)) }))
	assert.Equal(t, []string{"elsewhere"}, frames, "the slot's frame came as OpTxSlot")
	assert.Equal(t, []TxSlot{{Slot: 1, Off: 100, Len: len("a segment built in the slot"), GSO: 1448}}, got)
	assert.Nil(t, share.PostBuf(), "the slot is the driver's")
	assert.EqualValues(t, 2, netd.Counters().TxFrames)
}

type ownerFunc func([]byte)

func (f ownerFunc) Release(b []byte) { f(b) }

// Every OpTxSlot body that parses encodes back to itself.
func FuzzParseTxSlot(f *testing.F) {
	hdr := len(libipc.AppendHeader(nil, libipc.Header{Version: libipc.Version, Kind: libipc.KindOneway, Op: OpTxSlot}))
	f.Add(appendTxSlot(nil, TxSlot{Slot: 3, Off: 40, Len: 65000, GSO: 1448})[hdr:])
	f.Add([]byte{0x94, 0, 0, 0, 0})
	f.Add([]byte{0x94, 0xcf, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		tx, ok := ParseTxSlot(body)
		if !ok {
			return
		}
		require.Less(t, tx.Slot, MaxSlots)
		again, ok := ParseTxSlot(appendTxSlot(nil, tx)[hdr:])
		require.True(t, ok)
		require.Equal(t, tx, again)
	})
}
