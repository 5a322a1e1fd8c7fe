package ipc

import "sync"

// Process is the IPC side of a process: its handle table and its exit
// event. The kernel holds one reference from NewProcess until Release;
// handles to it (RightWait) let other processes (init, the shell) wait for
// its exit in a wait set (SigExited) and read its exit code.
type Process struct {
	objBase
	sig   signalState
	table *Table

	mu     sync.Mutex // guards the fields below
	exited bool
	code   int
}

func (p *Process) objType() Type       { return TypeProcess }
func (p *Process) state() *signalState { return &p.sig }

// NewProcess makes a process with an empty handle table.
func (k *Kernel) NewProcess() *Process {
	p := &Process{table: NewTable(k)}
	p.init(k, TypeProcess)
	return p
}

// Table returns the process's handle table.
func (p *Process) Table() *Table { return p.table }

// Exit tears the process down: every handle in its table is closed (peers
// of its channels see "peer closed", its calls' reply capabilities fail
// their callers with EPIPE, objects only it held are freed) and SigExited
// is raised with code. The kernel first cancels the contexts of the
// process's blocked threads so they leave their waits. Idempotent: the
// first code wins.
func (p *Process) Exit(code int) {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return
	}
	p.exited, p.code = true, code
	p.mu.Unlock()
	p.table.Destroy()
	p.sig.update(SigExited, 0)
}

// Release drops the kernel's reference (after Exit).
func (p *Process) Release() { release(p) }

// ExitStatus reports whether the process exited and its code.
func (p *Process) ExitStatus() (exited bool, code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited, p.code
}

// InstallHandle gives t a new handle to p with DefaultRights(TypeProcess).
func (p *Process) InstallHandle(t *Table) (Handle, Errno) {
	acquire(p)
	return t.Install(p, DefaultRights(TypeProcess))
}

// ProcessStatus returns the exit status of the process h (RightRead).
func (t *Table) ProcessStatus(h Handle) (exited bool, code int, e Errno) {
	p, e := lookup[*Process](t, h, TypeProcess, RightRead)
	if e != OK {
		return false, 0, e
	}
	exited, code = p.ExitStatus()
	return exited, code, OK
}

func (p *Process) lastClose() {
	p.Exit(0) // not exited yet (kernel released early): tear down anyway
	p.sig.detachAll()
	p.freed(TypeProcess)
}
