package stack_test

import (
	"net/netip"
	"time"
)

func durationOf(d interface{ Nanoseconds() int64 }) time.Duration {
	return time.Duration(d.Nanoseconds())
}

func netipUnspecified() netip.Addr { return netip.IPv4Unspecified() }
