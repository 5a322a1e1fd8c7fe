package ipc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// requireClean checks the no-leak invariant: nothing live, queued or held.
func requireClean(t testing.TB, k *Kernel) {
	t.Helper()
	k.Collect()
	s := k.Stats()
	require.Zero(t, s.LiveObjects(), "live objects by type %v", s.Live)
	require.Zero(t, s.Handles, "handles")
	require.Zero(t, s.Tables, "tables")
	require.Zero(t, s.QueuedMessages, "queued messages")
	require.Zero(t, s.QueuedBytes, "queued bytes")
	require.Zero(t, s.SharedPages, "shared pages")
	k.regMu.Lock()
	defer k.regMu.Unlock()
	require.Empty(t, k.endpoints)
	require.Empty(t, k.irqs)
}

// fakeIRQ records mask/unmask calls.
type fakeIRQ struct {
	masked  map[uint32]bool
	unmasks int
}

func newFakeIRQ() *fakeIRQ { return &fakeIRQ{masked: map[uint32]bool{}} }

func (f *fakeIRQ) Mask(i uint32)   { f.masked[i] = true }
func (f *fakeIRQ) Unmask(i uint32) { f.masked[i] = false; f.unmasks++ }

func mustChannel(t testing.TB, tb *Table) (Handle, Handle) {
	t.Helper()
	a, b, e := tb.ChannelCreate()
	require.Equal(t, OK, e)
	return a, b
}
