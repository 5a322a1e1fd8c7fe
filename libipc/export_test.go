package libipc

// HasWaiter reports whether a wait channel is armed on e's pair: someone
// blocked (or is about to block) in Send, Recv or WaitAny since the pair's
// last state change. Tests use it to know that a goroutine is blocked before
// they release it, instead of sleeping and hoping.
func HasWaiter(e *MemEndpoint) bool {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return len(e.p.waiters) > 0 || len(e.p.watchers) > 0
}

// Waiters returns how many blocked Send/Recv calls are registered on e's
// pair; a call that gave up (ctx ended) must have removed itself.
func Waiters(e *MemEndpoint) int {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return len(e.p.waiters)
}

// BufClasses returns the capacities of the message buffer size classes.
func BufClasses() []int { return bufClasses[:] }
