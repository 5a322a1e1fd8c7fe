package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"armos/libipc"
	"armos/libipc/skbuff"
	"armos/libsocket/adminproto"
	"armos/servers/netd/capture"
	"armos/servers/virtioconsd/consproto"
)

// tapped is netd's device with a capture point: every frame received
// (as the pump reads it) and sent (as the stack hands it over) is offered
// to the running capture, if any. Offering never blocks: the capture's
// ring copies the frame or counts a drop.
type tapped struct {
	device
	cap atomic.Pointer[capture.Capture]
}

func (t *tapped) ReadBuf(b *skbuff.Buf) error {
	err := t.device.ReadBuf(b)
	if err == nil {
		if c := t.cap.Load(); c != nil {
			c.Add(time.Now(), b.Bytes())
		}
	}
	return err
}

func (t *tapped) Transmit(b *skbuff.Buf) error {
	if c := t.cap.Load(); c != nil {
		c.Add(time.Now(), b.Bytes())
	}
	return t.device.Transmit(b)
}

// portDialer opens a console port for a capture's stream: a writer, and
// how many bytes the port has carried already (0: the stream is new and
// needs a pcap file header).
type portDialer func(ctx context.Context, name string) (io.WriteCloser, uint64, error)

// dialConsole reaches a console port through init (consproto). ctx is
// the capture's whole life (every write of the stream runs under it);
// reaching the port and asking its offset are bounded by dialWait.
func dialConsole(boot *libipc.InitClient) portDialer {
	return func(ctx context.Context, name string) (io.WriteCloser, uint64, error) {
		dctx, cancel := context.WithTimeout(ctx, dialWait)
		defer cancel()
		ep, err := boot.Connect(dctx, name)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		conn := libipc.NewConn(ep)
		var info consproto.Info
		if err := conn.Call(dctx, consproto.OpInfo, &consproto.Empty{}, &info); err != nil {
			conn.Close()
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		return consproto.NewPort(ctx, conn), info.Offset, nil
	}
}

// dialWait bounds reaching a console port for a capture.
const dialWait = 5 * time.Second

// drainEvery is how often a running capture's ring is written out.
const drainEvery = 100 * time.Millisecond

// capturer runs netd's packet captures, one at a time (the shell's pcap
// command, through adminproto's capture operations).
type capturer struct {
	tap  *tapped
	dial portDialer // nil: no console port can be reached (not under init)

	mu   sync.Mutex
	cur  *capture.Capture // the running or last capture
	st   adminproto.CaptureStatus
	stop chan struct{} // closed to end the drain
	done chan struct{} // closed when the drain has written everything
	// What the drain did, read under mu.
	bytes  uint64
	runErr error
}

// ctx bounds the drains of this netd: they end with it.
func (p *capturer) start(ctx context.Context, req *adminproto.CaptureStart) (*adminproto.CaptureStatus, error) {
	f, err := capture.ParseFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	if req.SnapLen < 0 || req.SnapLen > capture.HeaderSnapLen {
		return nil, fmt.Errorf("pcap: snap length %d: want 1..%d (0 for %d)", req.SnapLen, capture.HeaderSnapLen, capture.DefaultSnapLen)
	}
	port := req.Port
	if port == "" {
		port = consproto.DefaultPort
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		return nil, errors.New("pcap: a capture is running (pcap stop ends it)")
	}
	if p.dial == nil {
		return nil, errors.New("pcap: no console port to write to (netd was not started by init)")
	}
	w, offset, err := p.dial(ctx, port)
	if err != nil {
		return nil, fmt.Errorf("pcap: console port: %w", err)
	}
	c := capture.New(f, req.SnapLen)
	if offset > 0 {
		c.Continue() // the file has a header and records already: append
	}
	p.cur, p.bytes, p.runErr = c, 0, nil
	p.st = adminproto.CaptureStatus{Running: true, Filter: f.String(), SnapLen: c.SnapLen(), Port: port, Appended: offset > 0}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	p.tap.cap.Store(c)
	go p.drain(ctx, c, w, p.stop, p.done)
	return p.status(), nil
}

// drain writes the ring to w every drainEvery until stopped, then once
// more. A port that fails ends the capture's writing (the error is kept);
// the capture stops taking frames then.
func (p *capturer) drain(ctx context.Context, c *capture.Capture, w io.WriteCloser, stop, done chan struct{}) {
	defer close(done)
	defer w.Close()
	t := time.NewTicker(drainEvery)
	defer t.Stop()
	for {
		final := false
		select {
		case <-t.C:
		case <-stop:
			final = true
		case <-ctx.Done():
			final = true
		}
		if final {
			p.tap.cap.CompareAndSwap(c, nil)
		}
		n, err := c.WriteTo(w)
		p.mu.Lock()
		p.bytes += uint64(n)
		if err != nil && p.runErr == nil {
			p.runErr = err
		}
		p.mu.Unlock()
		if err != nil {
			p.tap.cap.CompareAndSwap(c, nil)
			return
		}
		if final {
			return
		}
	}
}

// stopCapture ends the running capture, waits until what it holds is
// written, and returns its figures.
func (p *capturer) stopCapture(ctx context.Context) (*adminproto.CaptureStatus, error) {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.mu.Unlock()
	if stop == nil {
		return nil, errors.New("pcap: no capture is running")
	}
	close(stop)
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop, p.done = nil, nil
	p.st.Running = false
	return p.status(), nil
}

// current reports the running or last capture.
func (p *capturer) current() *adminproto.CaptureStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status()
}

// status fills in the figures (with mu held).
func (p *capturer) status() *adminproto.CaptureStatus {
	st := p.st
	if p.cur != nil {
		s := p.cur.Stats()
		st.Captured, st.Filtered, st.Dropped, st.Written = s.Captured, s.Filtered, s.Dropped, s.Written
	}
	st.Bytes = p.bytes
	if p.runErr != nil {
		st.Error = p.runErr.Error()
		st.Running = false
	}
	return &st
}

// report adds the capture's counters to netstat's report (once one ran).
func (p *capturer) report(w io.Writer) {
	st := p.current()
	if st.Port == "" {
		return
	}
	fmt.Fprintf(w, "capture:\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n", "Captured", st.Captured,
		"Dropped", st.Dropped, "Filtered", st.Filtered, "Written", st.Written)
}
