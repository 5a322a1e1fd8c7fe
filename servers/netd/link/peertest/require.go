package peertest

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// Tools maps every command the real-peer tests run to the Debian package that
// provides it.
var Tools = map[string]string{
	"ip":     "iproute2",
	"ping":   "iputils-ping",
	"arping": "iputils-arping",
	"socat":  "socat",
}

// Packages returns the Debian packages that provide Tools, sorted.
func Packages() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range Tools {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Missing returns a human-readable reason why real-peer tests cannot run
// here (not root, or tools missing), or "" if they can.
func Missing() string {
	var why []string
	if os.Geteuid() != 0 {
		why = append(why, "must run as root (network namespaces and /dev/net/tun need CAP_NET_ADMIN)")
	}
	var tools, pkgs []string
	for tool, pkg := range Tools {
		if _, err := exec.LookPath(tool); err != nil {
			tools = append(tools, tool)
			pkgs = append(pkgs, pkg)
		}
	}
	sort.Strings(tools)
	sort.Strings(pkgs)
	if len(tools) > 0 {
		why = append(why, fmt.Sprintf("missing tools %s: apt-get install -y %s",
			strings.Join(tools, ", "), strings.Join(pkgs, " ")))
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		why = append(why, "no /dev/net/tun (load the tun module)")
	}
	return strings.Join(why, "; ")
}

// Require fails t immediately, and loudly, if the real-peer tests cannot
// run. It never skips: a silent skip would hide a broken CI setup.
func Require(t testing.TB) {
	t.Helper()
	if why := Missing(); why != "" {
		t.Fatalf("real-peer test cannot run: %s (needed packages: %s)", why, strings.Join(Packages(), " "))
	}
}
