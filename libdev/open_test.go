package libdev

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelector(t *testing.T) {
	for s, want := range map[string]uint64{"net": 1, "rng": 4, "blk": 2, "0x0a003e00": 0x0a003e00} {
		got, err := Selector(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, bad := range []string{"", "nic", "0x", "0x10", "0xzz", "12"} {
		_, err := Selector(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseEnv(t *testing.T) {
	fds, err := ParseEnv("4,5")
	require.NoError(t, err)
	assert.Equal(t, []int{4, 5}, fds)
	_, err = ParseEnv("")
	assert.ErrorContains(t, err, "ARMOS_DEVICES unset")
	for _, bad := range []string{"4,", "x", "-1", "4;5"} {
		_, err := ParseEnv(bad)
		assert.Error(t, err, bad)
	}
}
