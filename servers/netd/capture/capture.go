// Package capture is netd's packet capture: a bounded ring of the frames
// netd receives and sends, optionally only those a simple filter matches,
// written out as a standard pcap stream (LINKTYPE_ETHERNET, microsecond
// timestamps) that tshark and Wireshark read.
//
// The packet path never waits for the reader: Add copies the frame into
// the ring (up to the snap length) or, when the ring is full, drops it and
// counts the drop. The reader takes what is there with WriteTo.
package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds: the ring holds at most MaxRecords frames and MaxBytes of frame
// data (both bound the memory a capture can take whatever the traffic).
const (
	MaxRecords = 4096
	MaxBytes   = 4 << 20
	// DefaultSnapLen is how much of each frame is kept (the whole of an
	// Ethernet frame of a 1500-byte MTU, with VLAN room).
	DefaultSnapLen = 1518
	// HeaderSnapLen is the snap length the pcap file header states: the
	// largest any capture keeps, so that captures with different snap
	// lengths appended to one stream (Continue) stay one valid file.
	HeaderSnapLen = 65535
)

// Filter selects frames: by protocol ("arp", "icmp", "udp", "ip", or ""
// for all), by an IPv4 address (source or destination) and by a UDP port
// (source or destination). The zero Filter matches every frame.
type Filter struct {
	Proto string
	Host  netip.Addr
	Port  uint16
}

// ParseFilter reads a filter in a small subset of tcpdump's syntax: words
// "arp", "icmp", "udp", "ip", "host ADDR", "port N", in any order, each at
// most once ("" matches everything).
func ParseFilter(s string) (Filter, error) {
	var f Filter
	w := strings.Fields(s)
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case "arp", "icmp", "udp", "ip":
			if f.Proto != "" {
				return Filter{}, fmt.Errorf("capture: filter %q: two protocols", s)
			}
			f.Proto = w[i]
		case "host":
			if i+1 >= len(w) || f.Host.IsValid() {
				return Filter{}, fmt.Errorf("capture: filter %q: want host ADDR once", s)
			}
			a, err := netip.ParseAddr(w[i+1])
			if err != nil || !a.Is4() {
				return Filter{}, fmt.Errorf("capture: filter %q: %q is not an IPv4 address", s, w[i+1])
			}
			f.Host = a
			i++
		case "port":
			if i+1 >= len(w) || f.Port != 0 {
				return Filter{}, fmt.Errorf("capture: filter %q: want port N once", s)
			}
			p, err := strconv.ParseUint(w[i+1], 10, 16)
			if err != nil || p == 0 {
				return Filter{}, fmt.Errorf("capture: filter %q: %q is not a port (1-65535)", s, w[i+1])
			}
			f.Port = uint16(p)
			i++
		default:
			return Filter{}, fmt.Errorf("capture: filter %q: unknown word %q (arp, icmp, udp, ip, host ADDR, port N)", s, w[i])
		}
	}
	if f.Proto == "arp" && (f.Host.IsValid() || f.Port != 0) || f.Proto == "icmp" && f.Port != 0 {
		return Filter{}, fmt.Errorf("capture: filter %q: %s has no such field", s, f.Proto)
	}
	return f, nil
}

// String is the filter in ParseFilter's syntax.
func (f Filter) String() string {
	var w []string
	if f.Proto != "" {
		w = append(w, f.Proto)
	}
	if f.Host.IsValid() {
		w = append(w, "host", f.Host.String())
	}
	if f.Port != 0 {
		w = append(w, "port", strconv.Itoa(int(f.Port)))
	}
	return strings.Join(w, " ")
}

// Ethernet and IPv4 facts the filter needs.
const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	protoICMP     = 1
	protoUDP      = 17
)

// Match reports whether frame (an Ethernet frame) passes f. A frame too
// short for the fields f looks at does not match (unless f is zero).
func (f Filter) Match(frame []byte) bool {
	if f.Proto == "" && !f.Host.IsValid() && f.Port == 0 {
		return true
	}
	if len(frame) < 14 {
		return false
	}
	et := binary.BigEndian.Uint16(frame[12:])
	if f.Proto == "arp" {
		return et == etherTypeARP
	}
	if et != etherTypeIPv4 || len(frame) < 14+20 {
		return false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl {
		return false
	}
	proto := ip[9]
	switch f.Proto {
	case "icmp":
		if proto != protoICMP {
			return false
		}
	case "udp":
		if proto != protoUDP {
			return false
		}
	}
	if f.Host.IsValid() {
		h := f.Host.As4()
		if [4]byte(ip[12:16]) != h && [4]byte(ip[16:20]) != h {
			return false
		}
	}
	if f.Port != 0 {
		// Only a first (or whole) fragment carries the UDP header.
		if proto != protoUDP || binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 || len(ip) < ihl+4 {
			return false
		}
		sp, dp := binary.BigEndian.Uint16(ip[ihl:]), binary.BigEndian.Uint16(ip[ihl+2:])
		if sp != f.Port && dp != f.Port {
			return false
		}
	}
	return true
}

// record is one captured frame.
type record struct {
	at      time.Time
	origLen int
	data    []byte
}

// Stats count what a Capture did.
type Stats struct {
	Captured uint64 // frames kept
	Filtered uint64 // frames the filter passed over
	Dropped  uint64 // frames that matched but found the ring full (counted, not kept)
	Written  uint64 // frames written out by WriteTo
}

// Capture is a running capture: safe for the packet path (Add) and a
// reader (WriteTo) at once.
type Capture struct {
	filter  Filter
	snapLen int

	mu      sync.Mutex
	ring    []record // oldest first
	bytes   int
	started bool // the pcap header was written
	stats   Stats
}

// New starts a capture of the frames f matches, keeping at most snapLen
// bytes of each (DefaultSnapLen if snapLen <= 0).
func New(f Filter, snapLen int) *Capture {
	if snapLen <= 0 || snapLen > 65535 {
		snapLen = DefaultSnapLen
	}
	return &Capture{filter: f, snapLen: snapLen}
}

// Filter returns the capture's filter.
func (c *Capture) Filter() Filter { return c.filter }

// Add offers a frame netd received or sent at time at. It never blocks on
// the reader: a full ring drops the frame (counted).
func (c *Capture) Add(at time.Time, frame []byte) {
	if !c.filter.Match(frame) {
		c.mu.Lock()
		c.stats.Filtered++
		c.mu.Unlock()
		return
	}
	n := min(len(frame), c.snapLen)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ring) >= MaxRecords || c.bytes+n > MaxBytes {
		c.stats.Dropped++
		return
	}
	c.ring = append(c.ring, record{at: at, origLen: len(frame), data: append([]byte(nil), frame[:n]...)})
	c.bytes += n
	c.stats.Captured++
}

// Continue makes the capture's stream a continuation of an earlier one
// (a file that already holds a pcap header and records): WriteTo will not
// write the file header. Call it before the first WriteTo.
func (c *Capture) Continue() {
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
}

// SnapLen is how much of each frame the capture keeps.
func (c *Capture) SnapLen() int { return c.snapLen }

// Stats returns the counters.
func (c *Capture) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// pcap file format (the classic libpcap format, microsecond resolution).
const (
	pcapMagic        = 0xa1b2c3d4
	pcapVersionMajor = 2
	pcapVersionMinor = 4
	linktypeEthernet = 1
)

// WriteTo writes the frames captured since the last call, in order, as
// pcap records; the first call writes the pcap file header first, so the
// concatenation of every call's output is one pcap stream. It returns the
// bytes written.
func (c *Capture) WriteTo(w io.Writer) (int64, error) {
	c.mu.Lock()
	recs := c.ring
	c.ring, c.bytes = nil, 0
	header := !c.started
	c.started = true
	c.stats.Written += uint64(len(recs))
	c.mu.Unlock()
	var b []byte
	if header {
		b = binary.LittleEndian.AppendUint32(b, pcapMagic)
		b = binary.LittleEndian.AppendUint16(b, pcapVersionMajor)
		b = binary.LittleEndian.AppendUint16(b, pcapVersionMinor)
		b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
		b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
		b = binary.LittleEndian.AppendUint32(b, HeaderSnapLen)
		b = binary.LittleEndian.AppendUint32(b, linktypeEthernet)
	}
	for _, r := range recs {
		us := r.at.UnixMicro()
		b = binary.LittleEndian.AppendUint32(b, uint32(us/1e6))
		b = binary.LittleEndian.AppendUint32(b, uint32(us%1e6))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r.data)))
		b = binary.LittleEndian.AppendUint32(b, uint32(r.origLen))
		b = append(b, r.data...)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// Record is one frame of a pcap stream, as ReadPcap returns it.
type Record struct {
	At      time.Time
	OrigLen int    // the frame's length on the wire
	Data    []byte // what was kept (at most the snap length)
}

// ReadPcap reads a whole pcap stream as WriteTo writes it (classic
// format, little-endian, microseconds, LINKTYPE_ETHERNET): one file
// header, then records. It refuses anything else with an error saying
// where the stream went wrong. The records' Data alias b.
func ReadPcap(b []byte) ([]Record, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("capture: pcap: %d bytes, shorter than the file header", len(b))
	}
	le := binary.LittleEndian
	if m := le.Uint32(b); m != pcapMagic {
		return nil, fmt.Errorf("capture: pcap: magic %#x, want %#x", m, uint32(pcapMagic))
	}
	if maj, mnr := le.Uint16(b[4:]), le.Uint16(b[6:]); maj != pcapVersionMajor || mnr != pcapVersionMinor {
		return nil, fmt.Errorf("capture: pcap: version %d.%d, want 2.4", maj, mnr)
	}
	snap := le.Uint32(b[16:])
	if l := le.Uint32(b[20:]); l != linktypeEthernet {
		return nil, fmt.Errorf("capture: pcap: link type %d, want Ethernet (1)", l)
	}
	var recs []Record
	for off := 24; off < len(b); {
		if len(b)-off < 16 {
			return recs, fmt.Errorf("capture: pcap: record %d at byte %d: %d bytes, shorter than its header", len(recs), off, len(b)-off)
		}
		h := b[off:]
		sec, us, incl, orig := le.Uint32(h), le.Uint32(h[4:]), le.Uint32(h[8:]), le.Uint32(h[12:])
		switch {
		case us >= 1e6:
			return recs, fmt.Errorf("capture: pcap: record %d at byte %d: %d microseconds", len(recs), off, us)
		case incl > snap || incl > orig:
			return recs, fmt.Errorf("capture: pcap: record %d at byte %d: %d bytes kept of %d (snap length %d)", len(recs), off, incl, orig, snap)
		case uint64(len(b)-off-16) < uint64(incl):
			return recs, fmt.Errorf("capture: pcap: record %d at byte %d: %d bytes promised, %d left", len(recs), off, incl, len(b)-off-16)
		}
		recs = append(recs, Record{At: time.Unix(int64(sec), int64(us)*1000), OrigLen: int(orig), Data: h[16 : 16+incl]})
		off += 16 + int(incl)
	}
	return recs, nil
}
