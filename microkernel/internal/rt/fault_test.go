package rt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFaultDecoding(t *testing.T) {
	require.Equal(t, "data abort", ecName(0x96000006>>26))
	require.Equal(t, "translation fault", faultStatusName(0x96000006&0x3f))
	require.Equal(t, "permission fault", faultStatusName(0x0f))
	require.Equal(t, "alignment fault", faultStatusName(0x21))
	require.Equal(t, "undefined instruction", ecName(0))
	require.Equal(t, "breakpoint (BRK)", ecName(ecBRK))
	require.True(t, isTranslationFault(0x96000006))
	require.False(t, isTranslationFault(0x9600000f), "permission fault")
}
