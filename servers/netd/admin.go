package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"armos/libipc"
	"armos/libsocket/adminproto"
	"armos/servers/netd/link"
	"armos/servers/netd/sockets"
)

// adminServer is netd's operators' service (adminproto: ifconfig, arp,
// netstat). Each request reads the stack on the event loop.
func adminServer(n *instance, where string, dev device) *libipc.Server {
	if n.where == "" {
		n.where = where
	}
	mux := libipc.NewMux()
	libipc.Handle(mux, adminproto.OpInterface, func(_ *libipc.Request, _ *adminproto.Empty) (*adminproto.Interface, error) {
		var i adminproto.Interface
		err := onLoop(n, func() { i = n.iface() })
		return &i, err
	})
	libipc.HandleDeferred(mux, adminproto.OpConfigure, func(_ *libipc.Request, req *adminproto.Configure, reply *libipc.Reply[adminproto.Configured]) {
		if !n.svc.Post(func() { n.configure(req, reply) }) {
			_ = reply.Fail(errors.New("netd: the event loop has stopped"))
		}
	})
	arp := func(flush bool) func(*libipc.Request, *adminproto.Empty) (*adminproto.ARPTable, error) {
		return func(*libipc.Request, *adminproto.Empty) (*adminproto.ARPTable, error) {
			var t adminproto.ARPTable
			err := onLoop(n, func() {
				for _, e := range n.st.ARPTable() {
					t.Entries = append(t.Entries, e.String())
				}
				if flush {
					n.st.FlushARP()
				}
			})
			return &t, err
		}
	}
	libipc.Handle(mux, adminproto.OpARP, arp(false))
	libipc.Handle(mux, adminproto.OpARPFlush, arp(true))
	libipc.Handle(mux, adminproto.OpReport, func(_ *libipc.Request, _ *adminproto.Empty) (*adminproto.Report, error) {
		var b bytes.Buffer
		err := onLoop(n, func() {
			socketTable(&b, n.svc.Sockets())
			n.report(&b)
		})
		reportLink(&b, dev)
		return &adminproto.Report{Text: b.String()}, err
	})
	libipc.Handle(mux, adminproto.OpCaptureStart, func(_ *libipc.Request, req *adminproto.CaptureStart) (*adminproto.CaptureStatus, error) {
		return n.pcap.start(n.ctx, req)
	})
	libipc.Handle(mux, adminproto.OpCaptureStop, func(_ *libipc.Request, _ *adminproto.Empty) (*adminproto.CaptureStatus, error) {
		ctx, cancel := context.WithTimeout(n.ctx, captureStopWait)
		defer cancel()
		return n.pcap.stopCapture(ctx)
	})
	libipc.Handle(mux, adminproto.OpCaptureStatus, func(_ *libipc.Request, _ *adminproto.Empty) (*adminproto.CaptureStatus, error) {
		return n.pcap.current(), nil
	})
	return libipc.NewServer(mux)
}

// captureStopWait bounds how long pcap stop waits for the ring to be
// written out (a port that takes longer is slow beyond use).
const captureStopWait = 30 * time.Second

// socketTable prints the open sockets, netstat style.
func socketTable(b *bytes.Buffer, ss []sockets.SocketInfo) {
	fmt.Fprintf(b, "%-5s %-21s %-21s %8s %6s %6s\n", "Proto", "Local", "Peer", "Recv-Q", "Parked", "Client")
	addr := func(a netip.AddrPort) string {
		if !a.IsValid() {
			return "*"
		}
		return a.String()
	}
	for _, s := range ss {
		fmt.Fprintf(b, "%-5s %-21s %-21s %8s %6d %6d\n", "udp", addr(s.Local), addr(s.Peer),
			fmt.Sprintf("%d/%d", s.Queued, s.QueueLen), s.Parked, s.Client)
	}
}

// onLoop runs fn on netd's event loop and waits for it.
func onLoop(n *instance, fn func()) error {
	done := make(chan struct{})
	if !n.svc.Post(func() { fn(); close(done) }) {
		return errors.New("netd: the event loop has stopped")
	}
	<-done
	return nil
}

// reportLink adds a NIC link's counters to a report.
func reportLink(b *bytes.Buffer, dev device) {
	if r, ok := dev.(*link.Redial); ok {
		c := r.Counters()
		fmt.Fprintf(b, "link:\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n", "Reconnects", c.Reconnects,
			"DialFailed", c.DialFailed, "TxWhileDown", c.TxWhileDown, "TxQueueFull", c.TxQueueFull)
		if s := r.Share(); s != nil {
			st := s.Stats()
			fmt.Fprintf(b, "shared slots:\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n    %-20s %d\n",
				"Slots", st.Slots, "Held", st.Held, "Lent", st.Lent, "Posted", st.Posted, "SentInSlot", st.Sent,
				"BadLends", st.BadLends, "MapErrors", st.MapErrs, "Retired", st.Retired, "NoRoom", st.NoRoom, "MissedBig", st.Missed)
		}
	}
}

// serveAdmin registers netd's admin service with init.
func serveAdmin(ctx context.Context, boot *libipc.InitClient, n *instance, where string, dev device) error {
	srv := adminServer(n, where, dev)
	go func() { _ = srv.Serve(ctx) }()
	return boot.RegisterErr(ctx, adminproto.NetdService, srv.Accept)
}
