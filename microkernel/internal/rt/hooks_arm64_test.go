//go:build arm64

package rt

import (
	"strings"
	"testing"
)

// On arm64 the hardware stand-ins do not exist: these keep the tests
// compiling (and vettable) for the target; tests needing them skip.

func tlbiCalls() uint64 { return 0 }

func captureOut(t *testing.T) *strings.Builder {
	t.Skip("console capture needs the host stand-ins")
	return nil
}

const hostStandIns = false
