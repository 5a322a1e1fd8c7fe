package sockproto

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// A bin header claiming gigabytes must be refused from its length alone,
// without allocating what it claims (found by FuzzAddrDecode: the fuzz
// worker stalled allocating and zeroing a 2 GiB buffer).
func TestAddrDecodeRefusesHugeBinWithoutAllocating(t *testing.T) {
	b := []byte{0xc6, 0x89, 0x20, 0x1b, 0x00, 'b'} // bin32 claiming 0x89201b00 bytes
	var a Addr
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	err := msgpack.Unmarshal(b, &a)
	runtime.ReadMemStats(&ms)
	require.ErrorIs(t, err, ErrBadAddr)
	assert.Less(t, ms.TotalAlloc-before, uint64(1<<20), "bytes allocated decoding a 6-byte input")
}
