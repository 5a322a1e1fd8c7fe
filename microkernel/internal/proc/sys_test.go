package proc

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"armos/microkernel/internal/mm"
	"armos/microkernel/internal/rt"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testThread returns a thread of a process over host RAM, with a RW region
// at UserBase for system call arguments, and the buffer its output goes to.
func testThread(t *testing.T) (*thread, *bytes.Buffer) {
	out := new(bytes.Buffer)
	p := &Process{Name: "t", out: out, futex: map[uint64][]chan struct{}{}, pid: 2,
		done: make(chan struct{}), start: time.Now(), as: userSpace(t, 4<<20)}
	_, _, e := p.as.Mmap(UserBase, 4*PageSize, mm.ProtRead|mm.ProtWrite, 0, true)
	require.Equal(t, mm.OK, e)
	return &thread{p: p, tid: 3, uc: new(rt.UserContext)}, out
}

// call runs system call nr with args as the thread and returns X0.
func call(t *thread, nr uint64, args ...uint64) uint64 {
	r := &t.uc.Regs
	r.X = [31]uint64{}
	copy(r.X[:6], args)
	r.X[8] = nr
	t.syscall()
	return r.X[0]
}

func TestSysWrite(t *testing.T) {
	th, out := testThread(t)
	require.True(t, th.copyOut(UserBase, []byte("hi there")))
	assert.Equal(t, uint64(8), call(th, 64, 1, UserBase, 8))
	assert.Equal(t, uint64(2), call(th, 64, 2, UserBase, 2))
	assert.Equal(t, "hi therehi", out.String())
	assert.Equal(t, neg(eBADF), call(th, 64, 7, UserBase, 2))
	assert.Equal(t, neg(eFAULT), call(th, 64, 1, 0x1000, 2), "kernel window address")
	assert.Equal(t, neg(eFAULT), call(th, 64, 1, UserBase+4*PageSize-1, 2), "runs off the region")
}

func TestSysMmap(t *testing.T) {
	th, _ := testThread(t)
	va := call(th, 222, 0, 3*PageSize, 3, 0x22, ^uint64(0), 0) // MAP_PRIVATE|MAP_ANONYMOUS
	require.GreaterOrEqual(t, va, uint64(UserBase))
	require.Less(t, va, uint64(UserLimit))
	b := []byte{1, 2, 3}
	require.True(t, th.copyIn(b, va+PageSize))
	assert.Equal(t, []byte{0, 0, 0}, b, "demand-zero")
	require.True(t, th.copyOut(va, []byte{9}))
	assert.Equal(t, uint64(0), call(th, 233, va, PageSize, 4)) // MADV_DONTNEED
	require.True(t, th.copyIn(b[:1], va))
	assert.Equal(t, byte(0), b[0], "DONTNEED gives back zeroes")
	assert.Equal(t, uint64(0), call(th, 226, va, PageSize, 1)) // mprotect read-only
	assert.False(t, th.copyOut(va, []byte{1}))
	assert.Equal(t, uint64(0), call(th, 215, va, 3*PageSize))
	assert.False(t, th.copyIn(b, va), "unmapped")
	assert.Equal(t, neg(eNODEV), call(th, 222, 0, PageSize, 3, 0x02, 3, 0), "file mappings")
	assert.Equal(t, neg(eINVAL), call(th, 222, 0, 0, 3, 0x22, 0, 0))
	assert.Equal(t, neg(eNOMEM), call(th, 222, 0x4000_0000, PageSize, 3, 0x32, 0, 0), "MAP_FIXED on the kernel window")
}

func TestSysFutex(t *testing.T) {
	th, _ := testThread(t)
	word := uint64(UserBase + 64)
	require.True(t, th.copyOut(word, []byte{5, 0, 0, 0}))
	assert.Equal(t, neg(eAGAIN), call(th, 98, word, 128, 4, 0), "value changed")
	assert.Equal(t, uint64(0), call(th, 98, word, 129, 1), "nobody waits")

	// A waiter with no timeout is woken by WAKE.
	other := &thread{p: th.p, tid: 4, uc: new(rt.UserContext)}
	res := make(chan uint64)
	go func() { res <- call(other, 98, word, 128, 5, 0) }()
	require.Eventually(t, func() bool {
		th.p.mu.Lock()
		defer th.p.mu.Unlock()
		return len(th.p.futex[word]) == 1
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, uint64(1), call(th, 98, word, 129, 1))
	assert.Equal(t, uint64(0), <-res)

	// A timed wait times out and leaves no waiter behind.
	ts := uint64(UserBase + 128)
	var b [16]byte
	binary.LittleEndian.PutUint64(b[8:], uint64(time.Millisecond))
	require.True(t, th.copyOut(ts, b[:]))
	assert.Equal(t, neg(eTIMEDOUT), call(th, 98, word, 128, 5, ts))
	assert.Empty(t, th.p.futex)
}

func TestSysSignalsAndMisc(t *testing.T) {
	th, _ := testThread(t)
	act := make([]byte, 32)
	binary.LittleEndian.PutUint64(act, 0x1_0000_1234)
	binary.LittleEndian.PutUint64(act[8:], 0x14000000)
	require.True(t, th.copyOut(UserBase, act))
	assert.Equal(t, uint64(0), call(th, 134, 11, UserBase, 0, 8))
	assert.Equal(t, uint64(0), call(th, 134, 11, 0, UserBase+64, 8))
	got := make([]byte, 32)
	require.True(t, th.copyIn(got, UserBase+64))
	assert.Equal(t, act, got, "rt_sigaction returns what was set")
	assert.Equal(t, neg(eINVAL), call(th, 134, 65, 0, 0, 8))

	assert.Equal(t, uint64(0), call(th, 132, 0, UserBase+256))
	ss := make([]byte, 24)
	require.True(t, th.copyIn(ss, UserBase+256))
	assert.Equal(t, uint32(2), binary.LittleEndian.Uint32(ss[8:]), "SS_DISABLE")

	assert.Equal(t, uint64(8), call(th, 123, 0, 8, UserBase+512))
	assert.Equal(t, uint64(3), call(th, 178))
	assert.Equal(t, uint64(2), call(th, 172))
	assert.Equal(t, uint64(0), call(th, 113, 1, UserBase+600))
	require.True(t, th.copyIn(ss[:16], UserBase+600))
	assert.NotZero(t, binary.LittleEndian.Uint64(ss[8:])|binary.LittleEndian.Uint64(ss[:8]))
	assert.Equal(t, neg(eNOSYS), call(th, 400))
	assert.Equal(t, neg(eINVAL), call(th, 220, 0x100, 0x1000), "clone without CLONE_THREAD")

	require.False(t, th.p.exited())
	call(th, 94, 7)
	require.True(t, th.p.exited())
	assert.Equal(t, 7, th.p.status)
}
