//go:build !arm64

package rt

import (
	"strings"
	"testing"

	"armos/microkernel/internal/arch"
)

// Host-only observations the tests make through the arch stand-ins.

// tlbiCalls returns how many TLB invalidations trap code has issued.
func tlbiCalls() uint64 { return arch.TLBICalls }

// captureOut records what trap code prints on the console from now on.
func captureOut(t *testing.T) *strings.Builder { return captureConsole(t) }

// hostStandIns reports that the arch stand-ins (TLBI counting, console
// capture) are there.
const hostStandIns = true
