package proc

import (
	"encoding/binary"
	"time"

	"armos/microkernel/internal/rt"
)

// runGuarded runs an mm call on a process's address space with interrupts
// masked (the page allocator is shared with the trap layer).
var runGuarded = rt.WithIRQsOff

// futex operations (include/uapi/linux/futex.h).
const (
	futexWait    = 0
	futexWake    = 1
	futexOpMask  = 0x7f // without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
	maxFutexWait = 1 << 16
)

// sysFutex implements FUTEX_WAIT (with a relative timeout) and FUTEX_WAKE.
// Waiters queue per address in p.futex; the compare in WAIT and the queue
// update happen under p.mu, so a WAKE cannot slip between them.
func sysFutex(t *thread, a *[6]uint64) (uint64, bool) {
	addr, op, val := a[0], a[1]&futexOpMask, uint32(a[2])
	p := t.p
	switch op {
	case futexWait:
		var timeout time.Duration
		if a[3] != 0 {
			d, ok := t.timespec(a[3])
			if !ok {
				return neg(eFAULT), true
			}
			timeout = d
		}
		var b [4]byte
		p.mu.Lock()
		if !t.copyIn(b[:], addr) {
			p.mu.Unlock()
			return neg(eFAULT), true
		}
		if binary.LittleEndian.Uint32(b[:]) != val {
			p.mu.Unlock()
			return neg(eAGAIN), true
		}
		if len(p.futex[addr]) >= maxFutexWait {
			p.mu.Unlock()
			return neg(eAGAIN), true
		}
		ch := make(chan struct{})
		p.futex[addr] = append(p.futex[addr], ch)
		p.mu.Unlock()
		var expire <-chan time.Time
		if a[3] != 0 {
			tm := time.NewTimer(timeout)
			defer tm.Stop()
			expire = tm.C
		}
		select {
		case <-ch:
			return 0, true
		case <-p.done:
			return 0, true
		case <-expire:
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		select {
		case <-ch: // woken while timing out
			return 0, true
		default:
		}
		q := p.futex[addr]
		for i, c := range q {
			if c == ch {
				p.futex[addr] = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		if len(p.futex[addr]) == 0 {
			delete(p.futex, addr)
		}
		return neg(eTIMEDOUT), true
	case futexWake:
		p.mu.Lock()
		defer p.mu.Unlock()
		q := p.futex[addr]
		n := 0
		for n < len(q) && uint32(n) < val {
			close(q[n])
			n++
		}
		if n == len(q) {
			delete(p.futex, addr)
		} else {
			p.futex[addr] = q[n:]
		}
		return uint64(n), true
	}
	return neg(eNOSYS), true
}
