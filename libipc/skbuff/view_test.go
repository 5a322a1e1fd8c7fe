package skbuff

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// recorder is an Owner that records what came back.
type recorder struct {
	mu       sync.Mutex
	released [][]byte
}

func (r *recorder) Release(s []byte) {
	r.mu.Lock()
	r.released = append(r.released, s)
	r.mu.Unlock()
}

// TestViewOverForeignStorage: a view works in the storage it was given —
// in place, never past its end — and freeing it gives that storage back
// to its owner exactly once.
func TestViewOverForeignStorage(t *testing.T) {
	p := NewPool(4)
	own := &recorder{}
	dma := make([]byte, 300)
	copy(dma[12:], "frame bytes the device wrote")
	b, err := p.View(dma[:100], 12, own)
	require.NoError(t, err)
	assert.Equal(t, 100, b.Cap())
	assert.Equal(t, 12, b.Headroom())
	require.NoError(t, b.SetLen(28))
	assert.Equal(t, "frame bytes the device wrote", string(b.Bytes()))
	assert.Equal(t, &dma[12], &b.Bytes()[0], "no copy: the bytes are the device's")
	_, err = b.Pull(6)
	require.NoError(t, err)
	assert.Equal(t, 60, b.Tailroom())
	_, err = b.Put(61)
	assert.ErrorIs(t, err, ErrNoTailroom, "never past the view's end")
	assert.ErrorIs(t, b.SetLen(100), ErrNoTailroom)
	h, err := b.Push(18)
	require.NoError(t, err)
	copy(h, "a header, in place")
	assert.Equal(t, "a header, in place", string(dma[0:18]))
	assert.Equal(t, byte(0), dma[100], "the bytes after the view are untouched")

	require.NoError(t, b.Free())
	require.Len(t, own.released, 1)
	assert.Equal(t, &dma[0], &own.released[0][0])
	assert.Len(t, own.released[0], 100)
	assert.ErrorIs(t, b.Free(), ErrDoubleFree)
	assert.Len(t, own.released, 1, "released once")
	assert.Nil(t, b.Bytes())
	st := p.Stats()
	assert.Equal(t, uint64(1), st.Views)
	assert.Equal(t, uint64(1), st.Released)

	_, err = p.View(dma[:10], 11, own)
	assert.ErrorIs(t, err, ErrNoTailroom)
	_, err = p.View(dma, -1, own)
	assert.ErrorIs(t, err, ErrNegative)
}

// TestViewsAndGetsRecycle: view headers and pooled buffers are recycled,
// so a steady stream of views costs no allocation; Get's storage comes
// from slabs.
func TestViewsAndGetsRecycle(t *testing.T) {
	p := NewPool(8)
	own := &recorder{}
	storage := make([]byte, 64<<10)
	allocs := testing.AllocsPerRun(200, func() {
		b, _ := p.View(storage, 0, nil)
		_ = b.Append([]byte("x"))
		_ = b.Free()
		g := p.Get()
		_ = g.Free()
	})
	assert.Zero(t, allocs)
	for range slabBufs + 1 {
		defer p.Get().Free()
	}
	assert.Equal(t, uint64(2), p.Stats().Slabs, "17 buffers take two slabs of 16")
	b, _ := p.View(storage, 0, own)
	require.NoError(t, b.Free())
	assert.Len(t, own.released, 1)
}

// TestLargeViewCarriesAWholeDatagram: a view larger than MaxPacketSize (an
// IPC message or shared memory) holds a 65,507-byte datagram whole, crosses
// msgpack, and clones into storage of its size.
func TestLargeViewCarriesAWholeDatagram(t *testing.T) {
	p := NewPool(4)
	big := make([]byte, 128+65507)
	b, err := p.View(big, 128, nil)
	require.NoError(t, err)
	payload := make([]byte, 65507)
	for i := range payload {
		payload[i] = byte(i * 13)
	}
	require.NoError(t, b.Append(payload))
	c, err := b.Clone()
	require.NoError(t, err)
	assert.Equal(t, payload, c.Bytes())
	enc, err := msgpack.Marshal(b)
	require.NoError(t, err)
	into, err := p.View(make([]byte, len(big)), 0, nil)
	require.NoError(t, err)
	require.NoError(t, msgpack.Unmarshal(enc, into))
	assert.Equal(t, payload, into.Bytes())
	small := p.Get()
	assert.ErrorIs(t, msgpack.Unmarshal(enc, small), ErrOversize, "a 2 KiB buffer refuses it")
	assert.ErrorIs(t, small.CopyFrom(b), ErrNoTailroom)
	for _, x := range []*Buf{b, c, into, small} {
		require.NoError(t, x.Free())
	}
}

// FuzzView: any sequence of operations on a view of any size stays inside
// the view's storage (bytes around it are never written) and frees to its
// owner exactly once.
func FuzzView(f *testing.F) {
	f.Add(uint16(100), uint16(10), []byte{0, 5, 1, 3, 2, 200, 3, 1, 4, 9})
	f.Add(uint16(0), uint16(0), []byte{2, 1})
	f.Fuzz(func(t *testing.T, size, headroom uint16, ops []byte) {
		const guard = 16
		mem := make([]byte, int(size)+2*guard)
		for i := range mem {
			mem[i] = 0xA5
		}
		storage := mem[guard : guard+int(size)]
		own := &recorder{}
		p := NewPool(2)
		b, err := p.View(storage, int(headroom), own)
		if int(headroom) > int(size) {
			require.ErrorIs(t, err, ErrNoTailroom)
			return
		}
		require.NoError(t, err)
		for i := 0; i+1 < len(ops); i += 2 {
			n := int(ops[i+1])
			switch ops[i] % 7 {
			case 0:
				if h, err := b.Push(n); err == nil {
					for k := range h {
						h[k] = 0x11
					}
				}
			case 1:
				_, _ = b.Pull(n)
			case 2:
				if d, err := b.Put(n); err == nil {
					for k := range d {
						d[k] = 0x22
					}
				}
			case 3:
				_ = b.Trim(n)
			case 4:
				_ = b.SetLen(n)
			case 5:
				_ = b.Mark(Layer(n % 3))
			case 6:
				if c, err := b.Clone(); err == nil {
					require.Equal(t, b.Bytes(), c.Bytes())
					require.NoError(t, c.Free())
				}
			}
			require.LessOrEqual(t, b.Headroom()+b.Len()+b.Tailroom(), int(size))
			require.Equal(t, int(size), b.Headroom()+b.Len()+b.Tailroom())
		}
		for i := 0; i < guard; i++ {
			require.Equal(t, byte(0xA5), mem[i], "before the view")
			require.Equal(t, byte(0xA5), mem[guard+int(size)+i], "after the view")
		}
		require.NoError(t, b.Free())
		require.Len(t, own.released, 1)
		require.Len(t, own.released[0], int(size))
	})
}
