package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// parseReadyMAC extracts netd's MAC address from its ready line.
func parseReadyMAC(line string) (net.HardwareAddr, error) {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "mac" {
			return net.ParseMAC(f[i+1])
		}
	}
	return nil, fmt.Errorf("no mac in %q", line)
}

// parseReport reads netd's exit report ("layer:" headings, then indented
// "Name value" lines) into "layer.Name" -> value.
func parseReport(out string) map[string]uint64 {
	m := map[string]uint64{}
	layer := ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && strings.HasSuffix(f[0], ":") && !strings.HasPrefix(line, " "):
			layer = strings.TrimSuffix(f[0], ":")
		case len(f) == 2 && strings.HasPrefix(line, " ") && layer != "":
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				m[layer+"."+f[0]] = v
			}
		}
	}
	return m
}
