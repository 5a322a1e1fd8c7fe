// Command echo is the UDP echo server of the handbook's exercise (RFC 862):
// it binds UDP port 7 and returns every datagram to its sender.
//
// It is wiring only: the service is package echo. Started by armos's init,
// it reaches netd's socket service through libsocket (by name, through
// init), and survives a netd restart as libsocket does. Anywhere else (a
// Linux host, the Linux guest of the side-by-side benchmarks) it uses the
// process's ordinary UDP socket (net.ListenPacket). Hosted netd runs the
// same package in-process (netd -apps echo).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"armos/apps/echo/echo"
	"armos/libsocket"
	"armos/libsocket/sockproto"
)

func main() {
	addr := flag.String("addr", fmt.Sprintf(":%d", echo.Port), "UDP address to serve on")
	service := flag.String("service", sockproto.ServiceName, "under armos: the socket service to use")
	gaps := flag.Int("gaps", 0, "report the N longest gaps between replies at exit (restart soaks)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := listen(ctx, *addr, *service)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	defer conn.Close()

	srv := echo.New(conn)
	srv.TrackGaps(*gaps)
	fmt.Printf("echo: ready on udp %s\n", conn.LocalAddr())
	err = srv.Run(ctx)
	st := srv.Stats()
	fmt.Printf("echo: %d datagrams (%d bytes) echoed, %d replies lost\n", st.Echoed, st.Bytes, st.WriteErrors)
	if g := srv.Gaps(); len(g) > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		fmt.Printf("echo: the %d longest gaps between replies: median %.2f ms, p99 %.2f ms, max %.2f ms\n",
			len(g), ms(g[len(g)/2]), ms(g[min(len(g)*99/100, len(g)-1)]), ms(g[len(g)-1]))
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// listen opens the UDP socket: through libsocket when init started us,
// else the system's.
func listen(ctx context.Context, addr, service string) (net.PacketConn, error) {
	ap, err := netip.ParseAddrPort(addrWithHost(addr))
	if err != nil {
		return nil, fmt.Errorf("-addr %q: %w", addr, err)
	}
	client, err := libsocket.FromInit(ctx, service)
	if errors.Is(err, libsocket.ErrNoInit) {
		return net.ListenPacket("udp4", addr)
	}
	if err != nil {
		return nil, err
	}
	return client.ListenPacket(ctx, ap)
}

// addrWithHost turns ":7" into "0.0.0.0:7".
func addrWithHost(a string) string {
	if len(a) > 0 && a[0] == ':' {
		return "0.0.0.0" + a
	}
	return a
}
