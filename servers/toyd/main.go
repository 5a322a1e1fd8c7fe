// Command toyd is the toy protocol's server (docs/protocol-server.md's
// tutorial). It owns IP protocol 253 of netd's stack through netd's
// protocol service (libproto): it answers the echo and time requests other
// hosts send, and it serves the applications of its own host (apps/toy) as
// the service "toyd", asking other hosts for them and resending a request
// that got no answer.
//
// Usage (started by init): service toyd /bin/toyd
//
// It prints one ready line, and its counters when stopped (SIGTERM).
package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"armos/libipc"
	"armos/libproto"
	"armos/libproto/protoproto"
	"armos/servers/toyd/toy"
)

// Asks are bounded in number and in time.
const (
	MaxAsks   = 64          // asks waiting for their answers at once (more: EBUSY)
	AskTries  = 3           // requests sent for one ask
	AskResend = time.Second // the wait for an answer before sending again
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "toyd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	boot, err := libipc.Bootstrap()
	if err != nil {
		return fmt.Errorf("%w: toyd runs under armos's init", err)
	}
	go boot.ExitWhenGone(ctx, "toyd")
	client, err := libproto.FromInit(ctx, protoproto.ServiceName)
	if err != nil {
		return err
	}
	defer client.Close()
	p, err := client.Register(ctx, toy.Proto)
	if err != nil {
		return err
	}
	d := newDaemon(p, AskResend)
	if err := boot.RegisterErr(ctx, toy.Service, d.srv.Accept); err != nil {
		return err
	}
	fmt.Printf("toyd: ready on proto %d addr %v\n", toy.Proto, p.Info().Addr)
	err = d.run(ctx)
	fmt.Println(d.report())
	if ctx.Err() != nil {
		return nil // stopped
	}
	return err
}

// stats counts the asks of the applications.
type stats struct {
	Asks, Answered, Failed, TimedOut uint64 // asks, and how they ended
	Resent, Busy, SendErrors, Strays uint64 // requests sent again, asks refused (MaxAsks), sends refused, answers nobody waits for
}

// daemon is toyd. All its state belongs to the IPC server's goroutine: the
// applications' asks are its handlers, and the network's datagrams and
// ICMP errors, and the resend timers, are posted to it.
type daemon struct {
	p      *libproto.Protocol
	srv    *libipc.Server
	resend time.Duration
	toy    toy.Server
	next   uint16
	asks   map[uint16]*ask // by request id; at most MaxAsks
	stats  stats
}

// ask is one application's ask, waiting for its answer.
type ask struct {
	to    netip.Addr
	op    toy.Op
	req   []byte // the request as sent
	tries int
	timer *time.Timer
	reply *libipc.Reply[toy.AskResp]
}

func newDaemon(p *libproto.Protocol, resend time.Duration) *daemon {
	d := &daemon{p: p, resend: resend, asks: make(map[uint16]*ask)}
	mux := libipc.NewMux()
	libipc.HandleDeferred(mux, toy.OpAsk, d.ask)
	d.srv = libipc.NewServer(mux)
	return d
}

// run serves until ctx ends or the protocol is lost.
func (d *daemon) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer cancel() // the protocol's channels closed: it is lost
		for {
			select {
			case <-ctx.Done():
				return
			case dg, ok := <-d.p.Datagrams():
				if !ok {
					return
				}
				d.srv.Post(func() { d.datagram(dg) })
			case e, ok := <-d.p.Errors():
				if !ok {
					return
				}
				d.srv.Post(func() { d.icmpError(e) })
			}
		}
	}()
	_ = d.srv.Serve(ctx)
	return d.p.Err()
}

// datagram answers a request, or hands an answer to the ask it answers.
func (d *daemon) datagram(dg *libproto.Datagram) {
	if m, err := toy.Parse(dg.Payload); err == nil && m.Op&toy.Reply != 0 {
		d.answered(dg.Src, m)
		return
	}
	ans := d.toy.Answer(dg.Payload)
	if ans == nil || dg.Broadcast { // no answers to broadcasts: no storms
		return
	}
	// SendAsync, not Send: a handler never waits for netd.
	if err := d.p.SendAsync(&libproto.Datagram{Dst: dg.Src, Payload: ans}); err != nil {
		d.stats.SendErrors++
	}
}

// ask is the applications' OpAsk.
func (d *daemon) ask(_ *libipc.Request, q *toy.AskReq, reply *libipc.Reply[toy.AskResp]) {
	to, err := netip.ParseAddr(q.To)
	if err != nil || !to.Is4() {
		_ = reply.Fail(failure(libipc.ErrInvalid, "%q is not an IPv4 address", q.To))
		return
	}
	if q.Op != toy.OpEcho && q.Op != toy.OpTime {
		_ = reply.Fail(failure(libipc.ErrInvalid, "op %d is not a request", q.Op))
		return
	}
	if len(d.asks) >= MaxAsks {
		d.stats.Busy++
		_ = reply.Fail(failure(libipc.ErrBusy, "%d asks waiting already", MaxAsks))
		return
	}
	id := d.newID()
	req, err := toy.Message{Op: q.Op, ID: id, Payload: q.Payload}.Append(nil)
	if err != nil {
		_ = reply.Fail(failure(libipc.ErrTooLarge, "%v", err))
		return
	}
	d.stats.Asks++
	a := &ask{to: to, op: q.Op, req: req, reply: reply}
	d.asks[id] = a
	d.send(id, a)
}

// newID returns an id no waiting ask has.
func (d *daemon) newID() uint16 {
	for {
		d.next++
		if _, used := d.asks[d.next]; !used {
			return d.next
		}
	}
}

// send sends a's request (again) and arms its resend timer.
func (d *daemon) send(id uint16, a *ask) {
	a.tries++
	if err := d.p.SendAsync(&libproto.Datagram{Dst: a.to, Payload: a.req}); err != nil {
		d.stats.SendErrors++ // the timer tries again
	}
	a.timer = time.AfterFunc(d.resend, func() { d.srv.Post(func() { d.timeout(id, a) }) })
}

// timeout resends a's request, or gives up after AskTries.
func (d *daemon) timeout(id uint16, a *ask) {
	if d.asks[id] != a {
		return // answered meanwhile
	}
	if a.tries >= AskTries {
		d.finish(id)
		d.stats.TimedOut++
		_ = a.reply.Fail(failure(libipc.ErrTimeout, "%v: no answer to %d requests", a.to, a.tries))
		return
	}
	d.stats.Resent++
	d.send(id, a)
}

// answered ends the ask m answers.
func (d *daemon) answered(from netip.Addr, m toy.Message) {
	a := d.asks[m.ID]
	if a == nil || a.to != from || (m.Op != a.op|toy.Reply && m.Op != toy.OpError) {
		d.stats.Strays++
		return
	}
	d.finish(m.ID)
	if m.Op == toy.OpError {
		d.stats.Failed++
		_ = a.reply.Fail(failure(libipc.ErrInvalid, "%v: %s", from, m.Payload))
		return
	}
	d.stats.Answered++
	_ = a.reply.OK(&toy.AskResp{Payload: bytes.Clone(m.Payload), Tries: a.tries})
}

// icmpError ends the ask whose request an ICMP error quotes.
func (d *daemon) icmpError(e *libproto.ICMPError) {
	h, err := toy.ParseHeader(e.QuotedPayload())
	a := d.asks[h.ID]
	if err != nil || a == nil || a.to != e.Dst || h.Op != a.op {
		d.stats.Strays++
		return
	}
	d.finish(h.ID)
	d.stats.Failed++
	if e.Type == 3 && e.Code == 2 {
		_ = a.reply.Fail(failure(libipc.ErrConnRefused, "%v: protocol %d unreachable", e.Dst, toy.Proto))
		return
	}
	_ = a.reply.Fail(failure(libipc.ErrHostUnreach, "%v: ICMP type %d code %d from %v", e.Dst, e.Type, e.Code, e.From))
}

// failure is an error reply: a message for the application, and its code.
func failure(code libipc.Code, format string, args ...any) error {
	return &codeError{code, fmt.Sprintf(format, args...)}
}

type codeError struct {
	code libipc.Code
	msg  string
}

func (e *codeError) Error() string { return e.msg }
func (e *codeError) Unwrap() error { return e.code }

// finish forgets the ask id.
func (d *daemon) finish(id uint16) {
	d.asks[id].timer.Stop()
	delete(d.asks, id)
}

// report is the counters, on one line.
func (d *daemon) report() string {
	t, s := d.toy.Stats(), d.stats
	return fmt.Sprintf("toyd: answered %d echo, %d time, %d unknown; %d malformed, %d ignored; asks %d: %d answered, %d failed, %d timed out (%d resent, %d busy, %d send errors, %d strays)",
		t.Echo, t.Time, t.Unknown, t.Malformed, t.Ignored, s.Asks, s.Answered, s.Failed, s.TimedOut, s.Resent, s.Busy, s.SendErrors, s.Strays)
}
