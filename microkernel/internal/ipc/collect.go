package ipc

// Collect frees channel endpoints that only messages can reach: handle
// cycles in flight. Put endpoint C in D's queue and D in C's queue (each
// sent by its channel's other end), then close every handle: no table
// holds either, each keeps the other alive, and neither can ever be read.
// (Sending an end of a channel through that same channel, the one-step
// cycle, is refused with EINVAL.) Linux has the same problem with
// SCM_RIGHTS and solves it the same way, by a mark-and-sweep:
//
//   - roots: open endpoints with a reference outside messages
//     (refs > inFlight: a table or the kernel holds them);
//   - mark: from each marked endpoint, the endpoints in the messages queued
//     to it (or handed to its blocked receivers) are reachable;
//   - sweep: unmarked endpoints have their queues dropped, which closes
//     the handles inside and lets the cycle's reference counts reach zero.
//
// Handle moves hold Kernel.xfer shared and Collect holds it exclusively,
// so nothing moves while it marks. It costs O(endpoints + queued handles);
// the kernel runs it after a process exits. It returns the number of
// endpoints whose queues it dropped.
func (k *Kernel) Collect() int {
	k.xfer.Lock()
	k.regMu.Lock()
	eps := make([]*Endpoint, 0, len(k.endpoints))
	for e := range k.endpoints {
		eps = append(eps, e)
	}
	k.regMu.Unlock()

	marked := make(map[*Endpoint]bool, len(eps))
	var stack []*Endpoint
	for _, e := range eps {
		if e.refs.Load() > e.inFlight.Load() {
			marked[e] = true
			stack = append(stack, e)
		}
	}
	visit := func(m *message) {
		if m == nil || m.direct {
			return
		}
		for i := 0; i < m.nh; i++ {
			if x, ok := m.refs[i].obj.(*Endpoint); ok && !marked[x] {
				marked[x] = true
				stack = append(stack, x)
			}
		}
	}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		e.ch.mu.Lock()
		for i := 0; i < e.q.n; i++ {
			visit(e.q.at(i))
		}
		for _, w := range e.waiters {
			visit(w.msg)
		}
		e.ch.mu.Unlock()
	}

	var dropped []*message
	n := 0
	for _, e := range eps {
		if marked[e] {
			continue
		}
		e.ch.mu.Lock()
		before := len(dropped)
		for e.q.n > 0 {
			m := e.q.pop()
			k.queuedMsgs.Add(-1)
			k.queuedBytes.Add(-int64(len(m.data)))
			dropped = append(dropped, m)
		}
		e.refreshLocked()
		e.ch.mu.Unlock()
		if d := len(dropped) - before; d > 0 {
			e.dropped.Add(uint64(d))
			n++
		}
	}
	k.xfer.Unlock()
	k.droppedMsgs.Add(int64(len(dropped)))
	k.collected.Add(int64(n))
	for _, m := range dropped {
		m.drop()
	}
	return n
}
