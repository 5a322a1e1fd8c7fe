package ipc

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandleLookupChecksTypeAndRights(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, _ := mustChannel(t, tb)
	ws, e := tb.WaitSetCreate()
	require.Equal(t, OK, e)

	typ, r, e := tb.Info(a)
	require.Equal(t, OK, e)
	assert.Equal(t, TypeChannel, typ)
	assert.Equal(t, DefaultRights(TypeChannel), r)

	// A wait set is not a channel.
	assert.Equal(t, EPROTOTYPE, tb.Send(ws, []byte("x"), nil))
	// Values never issued.
	assert.Equal(t, EBADF, tb.Send(InvalidHandle, nil, nil))
	assert.Equal(t, EBADF, tb.Send(Handle(12345), nil, nil))

	// A read-only duplicate cannot send.
	ro, e := tb.Dup(a, RightRead)
	require.Equal(t, OK, e)
	assert.Equal(t, EACCES, tb.Send(ro, []byte("x"), nil))
	// Rights only shrink.
	_, e = tb.Dup(ro, RightRead)
	assert.Equal(t, EACCES, e, "ro has no dup right")
	_, e = tb.Dup(a, RightRead|RightMap)
	assert.Equal(t, EPERM, e)
	tb.Destroy()
	requireClean(t, k)
}

func TestHandleStaleGenerationIsEBADF(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	defer func() { tb.Destroy(); requireClean(t, k) }()
	a, b := mustChannel(t, tb)
	require.Equal(t, OK, tb.Close(a))
	assert.Equal(t, EBADF, tb.Close(a), "double close")
	assert.Equal(t, EBADF, tb.Send(a, nil, nil))
	// Fill the table so the freed slot is reused: the old value stays dead.
	var hs []Handle
	for tb.Len() < MaxHandles-1 {
		x, _, e := tb.ChannelCreate()
		if e == EMFILE {
			break
		}
		require.Equal(t, OK, e)
		hs = append(hs, x)
	}
	for tb.Len() < MaxHandles {
		_, e := tb.Dup(b, RightRead)
		require.Equal(t, OK, e)
	}
	seen := map[Handle]bool{}
	for _, h := range hs {
		require.NotEqual(t, a, h, "closed handle value reissued")
		require.False(t, seen[h])
		seen[h] = true
	}
	_, e := tb.Dup(b, RightRead)
	assert.Equal(t, EMFILE, e, "table bounded at MaxHandles")
	assert.Equal(t, EBADF, tb.Send(a, nil, nil))
	// Free one slot; the reused index gets a new generation.
	require.Equal(t, OK, tb.Close(hs[0]))
	n, e := tb.Dup(b, RightRead)
	require.Equal(t, OK, e)
	assert.NotEqual(t, hs[0], n)
	assert.Equal(t, EBADF, tb.Close(hs[0]))
}

func TestHandleValuesPositiveAndNonZero(t *testing.T) {
	h := makeHandle(MaxHandles-1, genMax)
	assert.Less(t, uint32(h), uint32(1)<<31)
	assert.NotEqual(t, InvalidHandle, makeHandle(0, 1))
}

func TestDestroyedTableRefusesEverything(t *testing.T) {
	k := NewKernel()
	tb := NewTable(k)
	a, _ := mustChannel(t, tb)
	tb.Destroy()
	tb.Destroy() // idempotent
	assert.Equal(t, EBADF, tb.Send(a, nil, nil))
	_, _, e := tb.ChannelCreate()
	assert.Equal(t, EBADF, e)
	requireClean(t, k)
}

func TestRightsString(t *testing.T) {
	assert.Equal(t, "read|write", (RightRead | RightWrite).String())
	assert.Equal(t, "none", Rights(0).String())
	assert.Equal(t, "ipc: bad handle", EBADF.Error())
	assert.Nil(t, OK.Err())
	assert.ErrorIs(t, EPIPE.Err(), EPIPE)
}
