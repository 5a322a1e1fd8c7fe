package fdt

import (
	"errors"
	"fmt"
	"strings"
)

// Compatible strings the kernel looks for.
const (
	CompatPL011      = "arm,pl011"
	CompatGICv2      = "arm,cortex-a15-gic"
	CompatGICv2Alt   = "arm,gic-400"
	CompatGICv3      = "arm,gic-v3"
	CompatTimer      = "arm,armv8-timer"
	CompatPSCI       = "arm,psci"
	CompatPSCI02     = "arm,psci-0.2"
	CompatPSCI10     = "arm,psci-1.0"
	CompatVirtioMMIO = "virtio,mmio"
)

// MaxMemoryRegions caps the RAM regions Machine collects.
const MaxMemoryRegions = 64

// MaxVirtio caps the virtio-mmio slots Machine collects.
const MaxVirtio = 256

// MaxCPUs caps the CPUs Machine collects.
const MaxCPUs = 512

// CPU is one /cpus/cpu@N node.
type CPU struct {
	// MPIDR is the CPU's affinity value (its "reg"): the PSCI CPU_ON target.
	MPIDR uint64
	// EnableMethod is "psci" on QEMU virt ("" if absent).
	EnableMethod string
}

// UART describes the PL011 console.
type UART struct {
	Path string
	Base uint64
	Size uint64
	IRQ  Interrupt
}

// GIC describes the interrupt controller. Version is 2 or 3.
type GIC struct {
	Version  int
	Path     string
	Phandle  uint32
	DistBase uint64 // GICD
	DistSize uint64
	// GICv2 only: the CPU interface (GICC).
	CPUBase uint64
	CPUSize uint64
	// GICv3 only: the first redistributor region (GICR).
	RedistBase uint64
	RedistSize uint64
}

// Timer holds the architected timer's PPIs, in the binding's order.
type Timer struct {
	SecurePhys Interrupt // PPI 13, INTID 29
	Phys       Interrupt // non-secure EL1 physical timer, PPI 14, INTID 30
	Virt       Interrupt // EL1 virtual timer, PPI 11, INTID 27
	HypPhys    Interrupt // EL2 physical timer, PPI 10, INTID 26
}

// PSCI conduits.
const (
	PSCIHVC = "hvc"
	PSCISMC = "smc"
)

// Virtio is one virtio-mmio transport slot. The tree lists every slot the
// board has; whether a device sits behind it is read from its DeviceID
// register (0 = empty).
type Virtio struct {
	Path string
	Base uint64
	Size uint64
	IRQ  Interrupt
}

// Machine is what the armos kernel needs from the device tree. Fields whose
// device is absent keep their zero value and the matching Has* is false.
type Machine struct {
	// Memory lists RAM regions from every device_type = "memory" node.
	Memory []Region
	// Reserved is the memory reservation block plus the regions of the
	// /reserved-memory node's children: RAM the kernel must not allocate.
	Reserved []Reservation

	Bootargs   string // /chosen/bootargs ("" if absent)
	StdoutPath string // /chosen/stdout-path
	RNGSeed    []byte // /chosen/rng-seed (nil if absent)

	HasUART bool
	UART    UART

	HasGIC bool
	GIC    GIC

	HasTimer bool
	Timer    Timer

	// PSCIMethod is PSCIHVC or PSCISMC ("" when there is no PSCI node).
	PSCIMethod string

	// Virtio lists the virtio-mmio slots in tree order.
	Virtio []Virtio

	// CPUs lists the enabled CPUs in tree order (the boot CPU is not
	// necessarily first: compare MPIDR_EL1).
	CPUs []CPU
}

// ErrNoMemory reports a tree without any usable memory node.
var ErrNoMemory = errors.New("fdt: no memory node")

// DecodeMachine parses blob and extracts its Machine.
func DecodeMachine(blob []byte) (*Machine, error) {
	t, err := Parse(blob)
	if err != nil {
		return nil, err
	}
	return t.Machine()
}

// Machine extracts the kernel's view of the board. Memory is mandatory
// (ErrNoMemory); the other devices are optional, but a device node that is
// present and malformed is an error, so the kernel never runs with half-read
// hardware descriptions. Nodes with status other than "okay"/"ok" are skipped.
func (t *Tree) Machine() (*Machine, error) {
	m := &Machine{Reserved: append([]Reservation(nil), t.Reserved...)}
	if err := t.memory(m); err != nil {
		return nil, err
	}
	if err := t.reservedMemory(m); err != nil {
		return nil, err
	}
	if err := t.chosen(m); err != nil {
		return nil, err
	}
	if err := t.gic(m); err != nil {
		return nil, err
	}
	if err := t.uart(m); err != nil {
		return nil, err
	}
	if err := t.timer(m); err != nil {
		return nil, err
	}
	if err := t.psci(m); err != nil {
		return nil, err
	}
	if err := t.virtio(m); err != nil {
		return nil, err
	}
	if err := t.cpus(m); err != nil {
		return nil, err
	}
	return m, nil
}

// enabled reports whether the node's status allows use.
func enabled(n *Node) bool {
	if !n.Has("status") {
		return true
	}
	s, err := n.String("status")
	return err == nil && (s == "okay" || s == "ok") // malformed = disabled
}

func (t *Tree) memory(m *Machine) error {
	for _, n := range t.nodes {
		if n.Parent != t.Root || !enabled(n) {
			continue
		}
		if dt, ok := n.Prop("device_type"); !ok || string(dt) != "memory\x00" {
			continue
		}
		regs, err := n.RegTranslated()
		if err != nil {
			return fmt.Errorf("memory node %s: %w", n.Path(), err)
		}
		for _, r := range regs {
			if r.Size == 0 {
				continue
			}
			if r.Base+r.Size < r.Base {
				return malformed("memory node %s: region %#x+%#x wraps", n.Path(), r.Base, r.Size)
			}
			if len(m.Memory) == MaxMemoryRegions {
				return fmt.Errorf("%w: more than %d memory regions", ErrTooLarge, MaxMemoryRegions)
			}
			m.Memory = append(m.Memory, r)
		}
	}
	if len(m.Memory) == 0 {
		return ErrNoMemory
	}
	return nil
}

// reservedMemory adds the regions of /reserved-memory's children
// (Devicetree Specification 3.5) to m.Reserved.
func (t *Tree) reservedMemory(m *Machine) error {
	rm, ok := t.Find("/reserved-memory")
	if !ok {
		return nil
	}
	for _, c := range rm.Children {
		if !c.Has("reg") {
			continue // dynamically placed pools have no address yet
		}
		regs, err := c.RegTranslated()
		if err != nil {
			return fmt.Errorf("reserved memory %s: %w", c.Path(), err)
		}
		for _, r := range regs {
			if len(m.Reserved) >= MaxReserved+MaxMemoryRegions {
				return fmt.Errorf("%w: too many reserved regions", ErrTooLarge)
			}
			m.Reserved = append(m.Reserved, Reservation{Address: r.Base, Size: r.Size})
		}
	}
	return nil
}

func (t *Tree) chosen(m *Machine) error {
	c, ok := t.Find("/chosen")
	if !ok {
		return nil
	}
	var err error
	if c.Has("bootargs") {
		if m.Bootargs, err = c.String("bootargs"); err != nil {
			return err
		}
	}
	if c.Has("stdout-path") {
		if m.StdoutPath, err = c.String("stdout-path"); err != nil {
			return err
		}
	}
	if v, ok := c.Prop("rng-seed"); ok {
		m.RNGSeed = append([]byte(nil), v...)
	}
	return nil
}

// firstEnabled returns the first enabled node compatible with any of cs.
func (t *Tree) firstEnabled(cs ...string) (*Node, string) {
	for _, n := range t.nodes {
		for _, c := range cs {
			if n.IsCompatible(c) && enabled(n) {
				return n, c
			}
		}
	}
	return nil, ""
}

func (t *Tree) gic(m *Machine) error {
	n, c := t.firstEnabled(CompatGICv3, CompatGICv2, CompatGICv2Alt)
	if n == nil {
		return nil
	}
	regs, err := n.RegTranslated()
	if err != nil {
		return fmt.Errorf("GIC %s: %w", n.Path(), err)
	}
	if len(regs) < 2 {
		return malformed("GIC %s has %d reg entries, want at least 2", n.Path(), len(regs))
	}
	g := GIC{Path: n.Path(), DistBase: regs[0].Base, DistSize: regs[0].Size}
	if n.Has("phandle") {
		if g.Phandle, err = n.U32("phandle"); err != nil {
			return err
		}
	}
	if c == CompatGICv3 {
		g.Version = 3
		g.RedistBase, g.RedistSize = regs[1].Base, regs[1].Size
	} else {
		g.Version = 2
		g.CPUBase, g.CPUSize = regs[1].Base, regs[1].Size
	}
	m.HasGIC, m.GIC = true, g
	return nil
}

// stdoutNode resolves /chosen/stdout-path ("/pl011@9000000", an alias
// such as "serial0", either optionally followed by ":115200n8").
func (t *Tree) stdoutNode(path string) *Node {
	if i := strings.IndexByte(path, ':'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return nil
	}
	if !strings.HasPrefix(path, "/") {
		aliases, ok := t.Find("/aliases")
		if !ok {
			return nil
		}
		target, err := aliases.String(path)
		if err != nil {
			return nil
		}
		path = target
	}
	n, _ := t.Find(path)
	return n
}

func (t *Tree) uart(m *Machine) error {
	// The console is the PL011 /chosen/stdout-path names, else the first one.
	n := t.stdoutNode(m.StdoutPath)
	if n == nil || !n.IsCompatible(CompatPL011) || !enabled(n) {
		n, _ = t.firstEnabled(CompatPL011)
	}
	if n == nil {
		return nil
	}
	regs, err := n.RegTranslated()
	if err != nil {
		return fmt.Errorf("UART %s: %w", n.Path(), err)
	}
	irqs, err := t.Interrupts(n)
	if err != nil {
		return fmt.Errorf("UART %s: %w", n.Path(), err)
	}
	m.HasUART = true
	m.UART = UART{Path: n.Path(), Base: regs[0].Base, Size: regs[0].Size, IRQ: irqs[0]}
	return nil
}

func (t *Tree) timer(m *Machine) error {
	n, _ := t.firstEnabled(CompatTimer)
	if n == nil {
		return nil
	}
	irqs, err := t.Interrupts(n)
	if err != nil {
		return fmt.Errorf("timer %s: %w", n.Path(), err)
	}
	if len(irqs) < 4 {
		return malformed("timer %s has %d interrupts, want 4", n.Path(), len(irqs))
	}
	for _, it := range irqs[:4] {
		if it.Type != TypePPI {
			return malformed("timer %s: interrupt %d is not a PPI", n.Path(), it.Number)
		}
	}
	m.HasTimer = true
	m.Timer = Timer{SecurePhys: irqs[0], Phys: irqs[1], Virt: irqs[2], HypPhys: irqs[3]}
	return nil
}

func (t *Tree) psci(m *Machine) error {
	n, _ := t.firstEnabled(CompatPSCI10, CompatPSCI02, CompatPSCI)
	if n == nil {
		return nil
	}
	method, err := n.String("method")
	if err != nil {
		return fmt.Errorf("PSCI %s: %w", n.Path(), err)
	}
	if method != PSCIHVC && method != PSCISMC {
		return malformed("PSCI %s: unknown method %q", n.Path(), method)
	}
	m.PSCIMethod = method
	return nil
}

func (t *Tree) virtio(m *Machine) error {
	for _, n := range t.nodes {
		if !n.IsCompatible(CompatVirtioMMIO) || !enabled(n) {
			continue
		}
		regs, err := n.RegTranslated()
		if err != nil {
			return fmt.Errorf("virtio %s: %w", n.Path(), err)
		}
		irqs, err := t.Interrupts(n)
		if err != nil {
			return fmt.Errorf("virtio %s: %w", n.Path(), err)
		}
		if len(m.Virtio) == MaxVirtio {
			return fmt.Errorf("%w: more than %d virtio-mmio nodes", ErrTooLarge, MaxVirtio)
		}
		m.Virtio = append(m.Virtio, Virtio{Path: n.Path(), Base: regs[0].Base, Size: regs[0].Size, IRQ: irqs[0]})
	}
	return nil
}

func (t *Tree) cpus(m *Machine) error {
	cpus, ok := t.Find("/cpus")
	if !ok {
		return nil
	}
	for _, c := range cpus.Children {
		if dt, ok := c.Prop("device_type"); !ok || string(dt) != "cpu\x00" || !enabled(c) {
			continue
		}
		regs, err := c.Reg()
		if err != nil {
			return fmt.Errorf("cpu %s: %w", c.Path(), err)
		}
		cpu := CPU{MPIDR: regs[0].Base}
		if c.Has("enable-method") {
			if cpu.EnableMethod, err = c.String("enable-method"); err != nil {
				return err
			}
		}
		if len(m.CPUs) == MaxCPUs {
			return fmt.Errorf("%w: more than %d CPUs", ErrTooLarge, MaxCPUs)
		}
		m.CPUs = append(m.CPUs, cpu)
	}
	return nil
}
