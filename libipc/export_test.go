package libipc

// HasWaiter reports whether a wait channel is armed on e's pair: someone
// blocked (or is about to block) in Send, Recv or WaitAny since the pair's
// last state change. Tests use it to know that a goroutine is blocked before
// they release it, instead of sleeping and hoping.
func HasWaiter(e *MemEndpoint) bool {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return waiters(e) > 0 || len(e.p.watchers) > 0
}

// waiters counts the pair's blocked Send/Recv calls; with p.mu held.
func waiters(e *MemEndpoint) int {
	n := 0
	for i := range 2 {
		n += len(e.p.recvWaiters[i]) + len(e.p.sendWaiters[i])
	}
	return n
}

// Waiters returns how many blocked Send/Recv calls are registered on e's
// pair; a call that gave up (ctx ended) must have removed itself.
func Waiters(e *MemEndpoint) int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return waiters(e)
}

// BufClasses returns the capacities of the message buffer size classes.
func BufClasses() []int { return bufClasses[:] }

// Posting reports whether e posts its receive buffers now.
func Posting(e *KernelEndpoint) bool {
	e.recvMu.Lock()
	defer e.recvMu.Unlock()
	return e.posting
}

// MixedSmallRun is how many small messages in a row end a mixed
// source's posting.
const MixedSmallRun = mixedSmallRun
