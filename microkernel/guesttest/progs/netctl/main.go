// Command netctl lets a guest test's host side end a run: started by init
// as an app (init -exit then stops the services and powers off once it
// ends), it binds a UDP port through libsocket and exits when a datagram
// "exit" arrives, after answering "bye" — so the host decides when the
// services stop and print their counters. Other datagrams get "?".
//
//	netctl [-port 4000]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"

	"armos/libsocket"
	"armos/libsocket/sockproto"
)

func main() {
	port := flag.Int("port", 4000, "UDP port to listen on")
	flag.Parse()
	ctx := context.Background()
	c, err := libsocket.FromInit(ctx, sockproto.ServiceName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netctl:", err)
		os.Exit(1)
	}
	conn, err := c.ListenPacket(ctx, netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "netctl:", err)
		os.Exit(1)
	}
	fmt.Printf("netctl: ready on udp %s\n", conn.LocalAddr())
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "netctl:", err)
			os.Exit(1)
		}
		if string(buf[:n]) == "exit" {
			_, _ = conn.WriteTo([]byte("bye"), from)
			fmt.Printf("netctl: exit asked by %v\n", from)
			conn.Close()
			return
		}
		_, _ = conn.WriteTo([]byte("?"), from)
	}
}
