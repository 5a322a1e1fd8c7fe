// Package consproto is the protocol of a console port service: a byte
// stream that leaves the guest through a virtio console (servers/virtioconsd
// registers one, "hvc0" by default, with init's name service), for example
// to a file that QEMU's chardev writes on the host. netd's packet capture
// writes its pcap stream to one.
//
// A writer calls OpWrite with up to MaxWrite bytes; the reply comes once
// the bytes are on their way to the device, so a writer that waits for
// each reply is paced by the device (a slow host slows the writer, never
// the port's other users). Bytes of one OpWrite are never interleaved
// with another's. OpInfo tells how many bytes the port has carried since
// the guest booted (its Offset), so that a writer appending to a file
// knows whether it is the first (a pcap writer writes the file header only
// then). Requests and replies are msgpack, as every IPC message.
package consproto

import (
	"context"
	"fmt"

	"armos/libipc"
)

// DefaultPort is the service name of the first console port.
const DefaultPort = "hvc0"

// MaxWrite bounds the bytes of one OpWrite (well under an IPC message).
const MaxWrite = 32 << 10

// Operations.
const (
	OpWrite libipc.Op = 1 // Write -> Written
	OpInfo  libipc.Op = 2 // Empty -> Info
)

// Empty is a request without arguments.
type Empty struct{}

// Write is one chunk of the stream.
type Write struct {
	Data []byte `msgpack:"data"`
}

// Written answers a Write: the bytes taken (all of them, or an error
// reply), and the port's offset after them.
type Written struct {
	N      int    `msgpack:"n"`
	Offset uint64 `msgpack:"offset"`
}

// Info describes a port.
type Info struct {
	Offset uint64 `msgpack:"offset"` // bytes carried since boot
	Driver string `msgpack:"driver"` // e.g. "virtio-console, virtio-mmio v1"
}

// Port is a client of one console port. Safe for concurrent use, but
// concurrent Writes interleave at chunk boundaries.
type Port struct {
	conn *libipc.Conn
	ctx  context.Context
}

// Dial connects to the port service name through init. ctx bounds the
// connection and every later Write.
func Dial(ctx context.Context, boot *libipc.InitClient, name string) (*Port, error) {
	ep, err := boot.Connect(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return NewPort(ctx, libipc.NewConn(ep)), nil
}

// NewPort wraps a connection to a port service.
func NewPort(ctx context.Context, conn *libipc.Conn) *Port { return &Port{conn: conn, ctx: ctx} }

// Info asks the port how far its stream has gone.
func (p *Port) Info() (Info, error) {
	var i Info
	err := p.conn.Call(p.ctx, OpInfo, &Empty{}, &i)
	return i, err
}

// Write sends b in chunks of at most MaxWrite bytes, waiting for each to
// be taken. It returns the bytes taken and the first error.
func (p *Port) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n := min(len(b)-done, MaxWrite)
		var w Written
		if err := p.conn.Call(p.ctx, OpWrite, &Write{Data: b[done : done+n]}, &w); err != nil {
			return done, err
		}
		if w.N != n {
			return done + max(0, min(w.N, n)), fmt.Errorf("consproto: the port took %d of %d bytes", w.N, n)
		}
		done += n
	}
	return done, nil
}

// Close closes the connection.
func (p *Port) Close() error { return p.conn.Close() }
