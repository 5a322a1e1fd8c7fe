// Command toy asks a host that runs toyd to echo a text or to tell its
// time, with the toy protocol (docs/protocol-server.md's tutorial):
//
//	toy ADDR time
//	toy ADDR echo TEXT
//
// Under armos it asks its own host's toyd (the service "toyd", through
// init), which speaks the protocol on IP protocol 253. Anywhere else
// (Linux) it speaks the protocol itself, on a raw IP socket (root or
// CAP_NET_RAW), resending as toyd does.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"armos/libipc"
	"armos/servers/toyd/toy"
)

// wait bounds the whole ask.
const wait = 10 * time.Second

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "toy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 || (args[1] == "time") != (len(args) == 2) || (args[1] != "time" && args[1] != "echo") {
		return errors.New("usage: toy ADDR time | toy ADDR echo TEXT")
	}
	to, err := netip.ParseAddr(args[0])
	if err != nil || !to.Is4() {
		return fmt.Errorf("%q is not an IPv4 address", args[0])
	}
	q := &toy.AskReq{To: to.String(), Op: toy.OpTime}
	if args[1] == "echo" {
		q.Op, q.Payload = toy.OpEcho, []byte(strings.Join(args[2:], " "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ask := askToyd
	if _, err := libipc.Bootstrap(); err != nil {
		ask = askRaw // not under armos
	}
	r, err := ask(ctx, q)
	if err != nil {
		return err
	}
	fmt.Printf("toy: %s from %v: %s\n", args[1], to, r.Payload)
	return nil
}

// askToyd asks toyd.
func askToyd(ctx context.Context, q *toy.AskReq) (*toy.AskResp, error) {
	boot, err := libipc.Bootstrap()
	if err != nil {
		return nil, err
	}
	ep, err := boot.ConnectWait(ctx, toy.Service)
	if err != nil {
		return nil, fmt.Errorf("toyd: %w", err)
	}
	c := libipc.NewConn(ep)
	defer c.Close()
	var r toy.AskResp
	if err := c.Call(ctx, toy.OpAsk, q, &r); err != nil {
		if re := (*libipc.RemoteError)(nil); errors.As(err, &re) {
			return nil, errors.New(re.Msg) // toyd's words
		}
		return nil, err
	}
	return &r, nil
}

// askRaw speaks the protocol on a raw IP socket.
func askRaw(ctx context.Context, q *toy.AskReq) (*toy.AskResp, error) {
	c, err := net.ListenPacket(fmt.Sprintf("ip4:%d", toy.Proto), "0.0.0.0")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	to := &net.IPAddr{IP: net.ParseIP(q.To)}
	id := uint16(rand.N(1 << 16))
	req, err := toy.Message{Op: q.Op, ID: id, Payload: q.Payload}.Append(nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, toy.HeaderLen+toy.MaxPayload)
	for try := 1; try <= 3; try++ {
		if _, err := c.WriteTo(req, to); err != nil {
			return nil, err
		}
		if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			return nil, err
		}
		for ctx.Err() == nil {
			n, from, err := c.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break // send again
			}
			if err != nil {
				return nil, err
			}
			m, err := toy.Parse(buf[:n])
			if err != nil || m.ID != id || !from.(*net.IPAddr).IP.Equal(to.IP) {
				continue // another datagram of protocol 253
			}
			switch m.Op {
			case q.Op | toy.Reply:
				return &toy.AskResp{Payload: m.Payload, Tries: try}, nil
			case toy.OpError:
				return nil, fmt.Errorf("%v: %s", q.To, m.Payload)
			}
		}
	}
	return nil, fmt.Errorf("%v: no answer to 3 requests", q.To)
}
