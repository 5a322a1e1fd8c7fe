package ipc

import "sync/atomic"

// IRQController is the kernel's interrupt controller (the GIC driver) as
// an Interrupt sees it.
type IRQController interface {
	// Mask stops the INTID from being delivered.
	Mask(intid uint32)
	// Unmask lets it be delivered again.
	Unmask(intid uint32)
}

// Interrupt is a device interrupt bound to one INTID and handed to one
// driver. The protocol:
//
//  1. The kernel's IRQ path masks the INTID at the controller and calls
//     Signal: SigSignaled is set and wait sets watching it wake.
//  2. The driver, woken by Wait, services the device and calls
//     InterruptAck, which clears SigSignaled and unmasks the INTID.
//
// Signals that arrive while one is pending coalesce into it (counted in
// Stats.IRQCoalesced): a level-triggered device stays asserted, and the
// driver drains all the device's work per wake-up anyway.
//
// Signal is lock-free and allocation-free (TestInterruptSignalAllocFree);
// its wake-up is a non-blocking send on each watching wait set's one-slot
// channel, which the Go runtime serves with a runtime lock. So the trap
// context itself must not call it: the IRQ path records the INTID in an
// integer-only pending mask and an IRQ-forwarding kernel goroutine calls
// Signal.
type Interrupt struct {
	objBase
	sig   signalState
	intid uint32
	ctl   IRQController
	fired atomic.Uint64
	acks  atomic.Uint64
}

// InterruptStats are an interrupt's counters.
type InterruptStats struct {
	INTID       uint32
	Fired, Acks uint64
	Pending     bool
}

func (i *Interrupt) objType() Type       { return TypeInterrupt }
func (i *Interrupt) state() *signalState { return &i.sig }

// NewInterrupt binds intid (EBUSY if already bound, until the object's
// last handle closes). The caller owns the first reference and gives it
// to the driver's table with Install, then unmasks the INTID; closing the
// last handle masks it again.
func (k *Kernel) NewInterrupt(intid uint32, ctl IRQController) (*Interrupt, Errno) {
	if ctl == nil {
		return nil, EINVAL
	}
	k.regMu.Lock()
	defer k.regMu.Unlock()
	if _, ok := k.irqs[intid]; ok {
		return nil, EBUSY
	}
	i := &Interrupt{intid: intid, ctl: ctl}
	i.init(k, TypeInterrupt)
	k.irqs[intid] = i
	return i, OK
}

// Signal records that the interrupt fired; see the type's doc for where
// it may be called. It reports whether the signal was new (false: it
// coalesced with a pending one).
func (i *Interrupt) Signal() bool {
	i.fired.Add(1)
	for {
		old := i.sig.bits.Load()
		if old&uint32(SigSignaled) != 0 {
			i.k.irqCoalesced.Add(1)
			return false
		}
		if i.sig.bits.CompareAndSwap(old, old|uint32(SigSignaled)) {
			i.sig.notify(SigSignaled)
			return true
		}
	}
}

// Stats returns the interrupt's counters.
func (i *Interrupt) Stats() InterruptStats {
	return InterruptStats{
		INTID: i.intid, Fired: i.fired.Load(), Acks: i.acks.Load(),
		Pending: i.sig.Signals()&SigSignaled != 0,
	}
}

// InterruptAck clears the interrupt h (RightWrite) and unmasks its INTID.
func (t *Table) InterruptAck(h Handle) Errno {
	i, e := lookup[*Interrupt](t, h, TypeInterrupt, RightWrite)
	if e != OK {
		return e
	}
	if i.base().refs.Load() == 0 {
		return EBADF
	}
	i.sig.update(0, SigSignaled)
	i.acks.Add(1)
	i.ctl.Unmask(i.intid)
	return OK
}

func (i *Interrupt) lastClose() {
	i.ctl.Mask(i.intid)
	i.k.regMu.Lock()
	delete(i.k.irqs, i.intid)
	i.k.regMu.Unlock()
	i.sig.detachAll()
	i.freed(TypeInterrupt)
}
