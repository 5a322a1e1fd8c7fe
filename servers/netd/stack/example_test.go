package stack_test

import (
	"fmt"
	"net/netip"

	"armos/servers/netd/stack"
	"armos/servers/netd/stack/stacktest"
	"armos/servers/netd/wire"
)

// A UDP echo service on port 7, driven the way netd's event loop drives the
// stack: frames in through Input, replies out through the Link.
func Example() {
	link := &stacktest.Link{}
	clock := stacktest.NewFakeClock()
	s, err := stack.New(stack.Config{
		MAC:     wire.MAC{0x52, 0x54, 0, 0x12, 0x34, 0x56},
		Addr:    netip.MustParsePrefix("10.0.2.15/24"),
		Gateway: netip.MustParseAddr("10.0.2.2"),
	}, link, clock)
	if err != nil {
		panic(err)
	}
	ep, err := s.BindUDP(netip.MustParseAddrPort("0.0.0.0:7"))
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 2048)
	ep.SetNotify(func() {
		n, meta, err := ep.Dequeue(buf)
		if err == nil {
			_ = ep.SendTo(buf[:n], meta.From)
		}
	})

	host := stacktest.Host{MAC: wire.MAC{2, 0, 0, 0, 0, 1}, Addr: netip.MustParseAddr("10.0.2.20")}
	us := s.Config().MAC
	s.Input(stacktest.Buf(host.ARPRequest(s.Config().Addr.Addr())))
	s.Input(stacktest.Buf(host.UDPFrame(us, 40000, netip.MustParseAddrPort("10.0.2.15:7"), []byte("hello"))))

	for f := link.Read(); f != nil; f = link.Read() {
		eth, _ := wire.ParseEthernet(f)
		fmt.Println(eth.Type(), "to", eth.Dst())
	}
	for _, e := range s.ARPTable() {
		fmt.Println(e)
	}
	// Output:
	// ARP to 02:00:00:00:00:01
	// IPv4 to 02:00:00:00:00:01
	// 10.0.2.20 at 02:00:00:00:00:01 reachable 1m0s
}
