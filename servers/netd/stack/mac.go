package stack

import "armos/servers/netd/wire"

// MAC is an Ethernet address (wire.MAC).
type MAC = wire.MAC
