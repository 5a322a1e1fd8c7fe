package rt

import "encoding/binary"

// BootInfo is what the trap layer needs from the device tree before the Go
// runtime exists: where RAM is, the console, the interrupt controller, the
// timer interrupt, the PSCI conduit and the /chosen rng-seed. The rest of the
// tree is read later by package main with the full parser (internal/fdt).
type BootInfo struct {
	MemBase, MemSize uintptr
	UART             uintptr
	GICVersion       int     // 2 or 3; 0 if not found
	GICDist, GICCPU  uintptr // GICv2: CPU interface; GICv3: redistributor
	TimerIntid       uint32  // INTID of the EL1 virtual timer (a PPI)
	PSCISMC          bool    // /psci method is "smc"
	RNGSeed          []byte  // /chosen/rng-seed (aliases the blob)
	Bootargs         []byte  // /chosen/bootargs without its NUL (aliases the blob)
	FwCfg            uintptr // QEMU's fw_cfg device (compatible "qemu,fw-cfg-mmio"), 0 if none
}

// Flattened devicetree tokens (Devicetree Specification v0.4, 5.4.1).
const (
	fdtMagic     = 0xd00dfeed
	fdtBeginNode = 1
	fdtEndNode   = 2
	fdtProp      = 3
	fdtNop       = 4
	fdtEnd       = 9
)

// nodeProps remembers the properties of the top-level node being scanned
// that classify it; the node is classified at its end.
type nodeProps struct {
	name                          []byte
	reg, compat, ints, method, rn []byte
	args                          []byte
}

// ScanDTB extracts BootInfo from a DTB without allocating. It only looks at
// top-level nodes and assumes #address-cells = #size-cells = 2 for them (as
// QEMU virt has). It returns false if blob is not a well-formed DTB.
func ScanDTB(blob []byte, bi *BootInfo) bool {
	if len(blob) < 40 || be32(blob, 0) != fdtMagic {
		return false
	}
	total := int(be32(blob, 4))
	structOff, stringsOff := int(be32(blob, 8)), int(be32(blob, 12))
	structSize := int(be32(blob, 36))
	if total > len(blob) || structOff+structSize > total || stringsOff > total {
		return false
	}
	s := blob[structOff : structOff+structSize]
	strs := blob[stringsOff:total]
	depth := 0
	var cur nodeProps
	for off := 0; off+4 <= len(s); {
		tok := be32(s, off)
		off += 4
		switch tok {
		case fdtBeginNode:
			end := off
			for end < len(s) && s[end] != 0 {
				end++
			}
			if end >= len(s) {
				return false
			}
			depth++
			if depth == 2 {
				cur = nodeProps{name: s[off:end]}
			}
			off = align4(end + 1)
		case fdtEndNode:
			if depth == 2 {
				classify(&cur, bi)
			}
			depth--
		case fdtProp:
			if off+8 > len(s) {
				return false
			}
			n, nameOff := int(be32(s, off)), int(be32(s, off+4))
			off += 8
			if off+n > len(s) || nameOff >= len(strs) {
				return false
			}
			val := s[off : off+n]
			off = align4(off + n)
			if depth != 2 {
				continue
			}
			name := cstring(strs[nameOff:])
			switch {
			case eq(name, "reg"):
				cur.reg = val
			case eq(name, "compatible"):
				cur.compat = val
			case eq(name, "interrupts"):
				cur.ints = val
			case eq(name, "method"):
				cur.method = val
			case eq(name, "rng-seed"):
				cur.rn = val
			case eq(name, "bootargs"):
				cur.args = cstring(val)
			}
		case fdtNop:
		case fdtEnd:
			return bi.MemSize != 0
		default:
			return false
		}
	}
	return false
}

// classify records what a finished top-level node contributes to bi.
func classify(n *nodeProps, bi *BootInfo) {
	switch {
	case hasPrefix(n.name, "memory") && len(n.reg) >= 16 && bi.MemSize == 0:
		bi.MemBase, bi.MemSize = uintptr(be64(n.reg, 0)), uintptr(be64(n.reg, 8))
	case eq(n.name, "chosen"):
		bi.RNGSeed, bi.Bootargs = n.rn, n.args
	case hasCompat(n.compat, "qemu,fw-cfg-mmio") && len(n.reg) >= 8:
		bi.FwCfg = uintptr(be64(n.reg, 0))
	case eq(n.name, "psci") || hasPrefix(n.name, "psci@"):
		bi.PSCISMC = hasPrefix(n.method, "smc")
	case hasCompat(n.compat, "arm,pl011") && len(n.reg) >= 8 && bi.UART == 0:
		bi.UART = uintptr(be64(n.reg, 0))
	case hasCompat(n.compat, "arm,gic-v3") && len(n.reg) >= 32:
		bi.GICVersion, bi.GICDist, bi.GICCPU = 3, uintptr(be64(n.reg, 0)), uintptr(be64(n.reg, 16))
	case (hasCompat(n.compat, "arm,cortex-a15-gic") || hasCompat(n.compat, "arm,gic-400")) && len(n.reg) >= 32:
		bi.GICVersion, bi.GICDist, bi.GICCPU = 2, uintptr(be64(n.reg, 0)), uintptr(be64(n.reg, 16))
	case hasCompat(n.compat, "arm,armv8-timer") && len(n.ints) >= 36:
		// Entries: secure phys, non-secure phys, virtual, hypervisor; each
		// <type number flags>; the number of a PPI is INTID-16.
		bi.TimerIntid = 16 + be32(n.ints, 2*12+4)
	}
}

func be32(b []byte, off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }

func be64(b []byte, off int) uint64 { return binary.BigEndian.Uint64(b[off:]) }

func align4(n int) int { return (n + 3) &^ 3 }

// cstring returns b up to its first NUL.
func cstring(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func eq(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b[i] != s[i] {
			return false
		}
	}
	return true
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && eq(b[:len(s)], s) }

// hasCompat reports whether the NUL-separated string list v contains s.
func hasCompat(v []byte, s string) bool {
	for len(v) > 0 {
		c := cstring(v)
		if eq(c, s) {
			return true
		}
		if len(c) >= len(v) {
			break
		}
		v = v[len(c)+1:]
	}
	return false
}

// bootArgValue returns the value of word key=value in the kernel command
// line (nil if absent).
func bootArgValue(args []byte, key string) []byte {
	for len(args) > 0 {
		for len(args) > 0 && args[0] == ' ' {
			args = args[1:]
		}
		end := 0
		for end < len(args) && args[end] != ' ' {
			end++
		}
		w := args[:end]
		args = args[end:]
		if len(w) > len(key) && w[len(key)] == '=' && eq(w[:len(key)], key) {
			return w[len(key)+1:]
		}
	}
	return nil
}

// atou parses a decimal number (0 if b is not one).
func atou(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}
