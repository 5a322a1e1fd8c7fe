// Command echo is the UDP echo server of the handbook's exercise (RFC 862):
// it binds UDP port 7 and returns every datagram to its sender.
//
// It is wiring only: the service is package echo, run over the process's
// ordinary UDP socket (net.ListenPacket). On a Linux host, or in the Linux
// guest used for side-by-side benchmarks, that is the kernel's socket; under
// armos the Linux-ABI socket calls reach netd. Hosted netd runs the same
// package in-process over libsocket instead (netd -apps echo).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"armos/apps/echo/echo"
)

func main() {
	addr := flag.String("addr", fmt.Sprintf(":%d", echo.Port), "UDP address to serve on")
	flag.Parse()

	conn, err := net.ListenPacket("udp4", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := echo.New(conn)
	fmt.Printf("echo: ready on udp %s\n", conn.LocalAddr())
	err = srv.Run(ctx)
	st := srv.Stats()
	fmt.Printf("echo: %d datagrams (%d bytes) echoed, %d replies lost\n", st.Echoed, st.Bytes, st.WriteErrors)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}
