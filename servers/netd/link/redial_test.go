package link

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libipc"
	"armos/libipc/skbuff"
)

// A NIC driver restarts: the link's reader connects to the new one and
// goes on reading; what was sent in the gap is counted, not an error that
// stops netd.
func TestRedialAcrossProviderRestart(t *testing.T) {
	mac := []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	a1, b1 := libipc.NewPair(8)
	first, netdEnd := NewChan(a1), NewChan(b1)
	providers := make(chan *Chan, 1)
	tries := 0
	dial := func(ctx context.Context) (*Chan, LinkInfo, error) {
		if tries++; tries == 1 {
			return nil, LinkInfo{}, libipc.ErrNotFound // the old name is still registered: tried again
		}
		a, b := libipc.NewPair(8)
		p := NewChan(a)
		require.NoError(t, p.SendInfo(LinkInfo{MAC: mac, MTU: 1500, Up: true, Driver: "second"}))
		providers <- p
		c := NewChan(b)
		info, err := c.ReadInfo(ctx)
		return c, info, err
	}
	var ups []LinkInfo
	r := NewRedial(context.Background(), netdEnd, dial, func(i LinkInfo) { ups = append(ups, i) })
	defer r.Close()

	send := func(p *Chan, s string) {
		f := skbuff.Get()
		require.NoError(t, f.Append([]byte(s)))
		require.NoError(t, p.Transmit(f))
	}
	got := skbuff.Get()
	defer got.Free()
	send(first, "one")
	require.NoError(t, r.ReadBuf(got))
	assert.Equal(t, "one", string(got.Bytes()))

	// The first provider dies; a frame sent now is dropped and counted,
	// not an error for whoever sent it.
	first.Close()
	f := skbuff.Get()
	require.NoError(t, f.Append([]byte("lost")))
	assert.NoError(t, r.Transmit(f))
	done := make(chan error, 1)
	go func() {
		require.NoError(t, got.Reset(skbuff.DefaultHeadroom))
		done <- r.ReadBuf(got)
	}()
	var second *Chan
	select {
	case second = <-providers:
	case <-time.After(5 * time.Second):
		t.Fatal("no redial")
	}
	defer second.Close()
	send(second, "two")
	require.NoError(t, <-done)
	assert.Equal(t, "two", string(got.Bytes()))
	require.Len(t, ups, 1)
	assert.Equal(t, "second", ups[0].Driver)

	// netd's frames reach the new provider.
	out := skbuff.Get()
	defer out.Free()
	f = skbuff.Get()
	require.NoError(t, f.Append([]byte("reply")))
	require.NoError(t, r.Transmit(f))
	require.NoError(t, second.ReadBuf(out))
	assert.Equal(t, "reply", string(out.Bytes()))
	c := r.Counters()
	assert.EqualValues(t, 1, c.Reconnects)
	assert.EqualValues(t, 1, c.DialFailed)
	assert.EqualValues(t, 1, c.TxWhileDown)
}

// Closing the link ends a pending read instead of redialling.
func TestRedialClose(t *testing.T) {
	a, b := libipc.NewPair(4)
	defer a.Close()
	r := NewRedial(context.Background(), NewChan(b), func(context.Context) (*Chan, LinkInfo, error) {
		t.Error("no redial after Close")
		return nil, LinkInfo{}, context.Canceled
	}, nil)
	done := make(chan error, 1)
	go func() {
		buf := skbuff.Get()
		defer buf.Free()
		done <- r.ReadBuf(buf)
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, r.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadBuf did not return")
	}
}
