package peertest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// PingResult is what iputils ping printed.
type PingResult struct {
	Transmitted, Received int
	// Replies lists each "N bytes from ADDR: icmp_seq=S ttl=T time=X ms" line.
	Replies []PingReply
}

// PingReply is one echo reply ping reported.
type PingReply struct {
	From netip.Addr
	Seq  int
	TTL  int
	RTT  time.Duration
}

var (
	pingReplyRE = regexp.MustCompile(`^(\d+) bytes from ([0-9.]+): icmp_seq=(\d+) ttl=(\d+) time=([0-9.]+) ms`)
	pingStatsRE = regexp.MustCompile(`^(\d+) packets transmitted, (\d+) received`)
)

// ParsePing parses the output of iputils ping (IPv4). It is an error if the
// statistics line is missing or the reply lines are inconsistent with it.
func ParsePing(out string) (PingResult, error) {
	var r PingResult
	stats := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if m := pingReplyRE.FindStringSubmatch(line); m != nil {
			from, err := netip.ParseAddr(m[2])
			if err != nil {
				return r, fmt.Errorf("ping reply %q: %w", line, err)
			}
			seq, err1 := strconv.Atoi(m[3])
			ttl, err2 := strconv.Atoi(m[4])
			ms, err3 := strconv.ParseFloat(m[5], 64)
			if err1 != nil || err2 != nil || err3 != nil {
				return r, fmt.Errorf("ping reply %q: bad number", line)
			}
			r.Replies = append(r.Replies, PingReply{From: from, Seq: seq, TTL: ttl,
				RTT: time.Duration(ms * float64(time.Millisecond))})
			continue
		}
		if m := pingStatsRE.FindStringSubmatch(line); m != nil {
			tx, err1 := strconv.Atoi(m[1])
			rx, err2 := strconv.Atoi(m[2])
			if err1 != nil || err2 != nil {
				return r, fmt.Errorf("ping statistics %q: bad number", line)
			}
			r.Transmitted, r.Received, stats = tx, rx, true
		}
	}
	if !stats {
		return r, fmt.Errorf("ping output has no statistics line")
	}
	if r.Received > r.Transmitted {
		return r, fmt.Errorf("ping: %d received of %d transmitted", r.Received, r.Transmitted)
	}
	return r, nil
}

// ArpingResult is what iputils arping printed.
type ArpingResult struct {
	Sent, Received int
	// Replies lists each "Unicast reply from IP [MAC]" line.
	Replies []ArpReply
}

// ArpReply is one ARP reply arping reported.
type ArpReply struct {
	IP  netip.Addr
	MAC net.HardwareAddr
}

var (
	arpReplyRE = regexp.MustCompile(`^(?:Unicast|Broadcast) reply from ([0-9.]+) \[([0-9A-Fa-f:]+)\]`)
	arpSentRE  = regexp.MustCompile(`^Sent (\d+) probes?`)
	arpRecvRE  = regexp.MustCompile(`^Received (\d+) response`)
)

// ParseArping parses the output of iputils arping. It is an error if the
// "Sent"/"Received" summary is missing or disagrees with the reply lines.
func ParseArping(out string) (ArpingResult, error) {
	var r ArpingResult
	sent, recv := false, false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if m := arpReplyRE.FindStringSubmatch(line); m != nil {
			ip, err := netip.ParseAddr(m[1])
			if err != nil {
				return r, fmt.Errorf("arping reply %q: %w", line, err)
			}
			mac, err := net.ParseMAC(m[2])
			if err != nil || len(mac) != 6 {
				return r, fmt.Errorf("arping reply %q: bad MAC", line)
			}
			r.Replies = append(r.Replies, ArpReply{IP: ip, MAC: mac})
			continue
		}
		if m := arpSentRE.FindStringSubmatch(line); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				return r, fmt.Errorf("arping %q: bad number", line)
			}
			r.Sent, sent = n, true
		}
		if m := arpRecvRE.FindStringSubmatch(line); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				return r, fmt.Errorf("arping %q: bad number", line)
			}
			r.Received, recv = n, true
		}
	}
	if !sent || !recv {
		return r, fmt.Errorf("arping output has no Sent/Received summary")
	}
	if r.Received != len(r.Replies) {
		return r, fmt.Errorf("arping: summary says %d responses, %d reply lines", r.Received, len(r.Replies))
	}
	return r, nil
}

// Neigh is one entry of the kernel's neighbour (ARP) table.
type Neigh struct {
	IP    netip.Addr
	Dev   string
	MAC   net.HardwareAddr // nil for an incomplete/failed entry
	State []string         // e.g. ["REACHABLE"]
}

// ParseNeigh parses the JSON printed by `ip -j neigh show`.
func ParseNeigh(out string) ([]Neigh, error) {
	var raw []struct {
		Dst    string   `json:"dst"`
		Dev    string   `json:"dev"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("ip -j neigh: %w", err)
	}
	ns := make([]Neigh, 0, len(raw))
	for _, e := range raw {
		ip, err := netip.ParseAddr(e.Dst)
		if err != nil {
			return nil, fmt.Errorf("ip -j neigh: dst %q: %w", e.Dst, err)
		}
		n := Neigh{IP: ip, Dev: e.Dev, State: e.State}
		if e.LLAddr != "" {
			if n.MAC, err = net.ParseMAC(e.LLAddr); err != nil {
				return nil, fmt.Errorf("ip -j neigh: lladdr %q: %w", e.LLAddr, err)
			}
		}
		ns = append(ns, n)
	}
	return ns, nil
}
