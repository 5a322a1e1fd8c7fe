package check

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// withChecks runs Run over a fresh registry and returns its status and output.
func withChecks(t *testing.T, register func(), pattern string, timeout time.Duration) (int, string) {
	t.Helper()
	saved, savedOut := registry, Output
	defer func() { registry, Output = saved, savedOut }()
	registry = nil
	var buf bytes.Buffer
	Output = &buf
	register()
	return Run(pattern, false, false, timeout), buf.String()
}

func TestRunReportsEachCheckAndSummary(t *testing.T) {
	status, out := withChecks(t, func() {
		Add("good", func(t *T) { t.Logf("not shown") })
		Add("bad", func(t *T) {
			t.Logf("context")
			t.Errorf("first %d", 1)
			t.Fatalf("second\nline")
			t.Errorf("never reached")
		})
		Add("panics", func(t *T) { panic("boom") })
	}, "", 0)
	require.Equal(t, 1, status)
	require.Equal(t, "ok good\n"+
		"    context\n"+
		"FAIL bad: first 1; second\\nline\n"+
		"FAIL panics: panic: boom\n"+
		"1 passed, 2 failed\n", out)
}

func TestRunSelectsByPattern(t *testing.T) {
	status, out := withChecks(t, func() {
		Add("alpha", func(t *T) {})
		Add("beta", func(t *T) { t.Errorf("no") })
	}, "^al", 0)
	require.Equal(t, 0, status)
	require.Equal(t, "ok alpha\n1 passed, 0 failed\n", out)
}

func TestRunStopsAfterATimeout(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	status, out := withChecks(t, func() {
		Add("hangs", func(t *T) { <-block })
		Add("after", func(t *T) {})
	}, "", 10*time.Millisecond)
	require.Equal(t, 1, status)
	require.Equal(t, "FAIL hangs: timed out after 10ms\n0 passed, 1 failed\n", out)
}

func TestAddRejectsBadNames(t *testing.T) {
	saved := registry
	defer func() { registry = saved }()
	require.Panics(t, func() { Add("has space", func(*T) {}) })
	require.Panics(t, func() { Add("colon:", func(*T) {}) })
	Add("once", func(*T) {})
	require.Panics(t, func() { Add("once", func(*T) {}) })
}
