package libipc

// HasWaiter reports whether a wait channel is armed on e's pair: someone
// blocked (or is about to block) in Send, Recv or WaitAny since the pair's
// last state change. Tests use it to know that a goroutine is blocked before
// they release it, instead of sleeping and hoping.
func HasWaiter(e *MemEndpoint) bool {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.p.changed != nil
}
