//go:build arm64

package main

import (
	"fmt"
	"runtime"
	"time"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/fdt"
	"armos/microkernel/internal/rt"
)

// Version is the kernel version printed in the boot banner.
const Version = "0.1.0"

// virtio-mmio registers (Virtual I/O Device spec 1.2, 4.2.2).
const (
	virtioMagic     = 0x000 // "virt"
	virtioDeviceID  = 0x008
	virtioMagicWord = 0x74726976
)

// PL031 real-time clock (ARM PrimeCell RTC (PL031) TRM, DDI 0224, 3.3).
const (
	compatPL031 = "arm,pl031"
	rtcDR       = 0x000 // RTCDR: seconds since the epoch
)

// rtcLine is the boot report's RTC line ("" without an RTC).
var rtcLine string

// readMachine parses the DTB QEMU passed and sets the wall clock from the
// PL031 RTC. A kernel without a usable DTB has already stopped in early
// boot; a parse error here is reported and the boot goes on with what the
// trap layer found.
func readMachine() *fdt.Machine {
	t, err := fdt.Parse(rt.DTB())
	if err != nil {
		fmt.Printf("armos: device tree: %v\n", err)
		return nil
	}
	m, err := t.Machine()
	if err != nil {
		fmt.Printf("armos: device tree: %v\n", err)
		return nil
	}
	for _, n := range t.FindCompatible(compatPL031) {
		if regs, err := n.Reg(); err == nil && len(regs) > 0 {
			secs := arch.Read32(rt.DeviceAddr(regs[0].Base) + rtcDR)
			rt.SetRealtimeBase(uint64(secs) * 1e9)
			rtcLine = fmt.Sprintf("rtc: pl031 at %#x: %s", regs[0].Base, time.Unix(int64(secs), 0).UTC().Format(time.RFC3339))
			break
		}
	}
	return m
}

// cpuName decodes MIDR_EL1 (Arm ARM, "MIDR_EL1, Main ID Register").
func cpuName(midr uint64) string {
	impl, part := (midr>>24)&0xff, (midr>>4)&0xfff
	names := map[uint64]string{0xd03: "Cortex-A53", 0xd04: "Cortex-A35", 0xd07: "Cortex-A57",
		0xd08: "Cortex-A72", 0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1", 0xd40: "Neoverse-V1", 0xd49: "Neoverse-N2"}
	name := names[part]
	if impl != 0x41 || name == "" {
		name = "unknown"
	}
	return fmt.Sprintf("%s (MIDR %#x: implementer %#x part %#x r%dp%d)", name, midr, impl, part, (midr>>20)&0xf, midr&0xf)
}

// report prints the boot banner and the devices found in the DTB.
func report(m *fdt.Machine) {
	fmt.Printf("armos %s (%s) on QEMU virt\n", Version, runtime.Version())
	fmt.Printf("cpu: %s, entered at EL%d\n", cpuName(arch.MIDR()), rt.EntryEL())
	fmt.Printf("sched: 1 physical CPU time-sliced as %d (GOMAXPROCS %d), %d kernel threads so far\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), rt.ReadStats().Clones+1)
	if m == nil {
		return
	}
	var ram uint64
	for _, r := range m.Memory {
		ram += r.Size
	}
	fmt.Printf("memory: %d MiB at %#x\n", ram>>20, m.Memory[0].Base)
	if m.HasUART {
		fmt.Printf("uart: pl011 at %#x irq %d\n", m.UART.Base, m.UART.IRQ.INTID)
	}
	if m.HasGIC {
		cpu := m.GIC.CPUBase
		if m.GIC.Version == 3 {
			cpu = m.GIC.RedistBase
		}
		fmt.Printf("gic: v%d distributor %#x, %s %#x\n", m.GIC.Version, m.GIC.DistBase,
			map[bool]string{true: "redistributor", false: "cpu interface"}[m.GIC.Version == 3], cpu)
	}
	if m.HasTimer {
		fmt.Printf("timer: %d Hz, virtual timer irq %d\n", rt.TimerFrequency(), m.Timer.Virt.INTID)
	}
	fmt.Printf("psci: %s\n", m.PSCIMethod)
	if rtcLine != "" {
		fmt.Println(rtcLine)
	}
	n := 0
	for _, v := range m.Virtio {
		if arch.Read32(rt.DeviceAddr(v.Base)+virtioMagic) != virtioMagicWord {
			continue
		}
		id := arch.Read32(rt.DeviceAddr(v.Base) + virtioDeviceID)
		if id == 0 {
			continue
		}
		n++
		fmt.Printf("virtio: slot %#x device id %d irq %d\n", v.Base, id, v.IRQ.INTID)
	}
	fmt.Printf("virtio: %d of %d slots populated\n", n, len(m.Virtio))
	fmt.Printf("cmdline: %q\n", m.Bootargs)
}

// ready prints the boot time and memory in use; benchmarks look for it.
func ready() {
	ms := rt.ReadMemStats()
	bootNS := rt.Nanotime() - rt.CounterToNS(rt.EntryCounter())
	inUse := (ms.InUse+ms.MetaPages)*4096 + ms.KernelImage + ms.DTB
	fmt.Printf("armos: ready in %.1f ms; memory in use %d KiB (pages %d KiB + page metadata %d KiB + image and boot tables %d KiB + DTB %d KiB) of %d MiB\n",
		float64(bootNS)/1e6, inUse>>10, ms.InUse*4, ms.MetaPages*4, ms.KernelImage>>10, ms.DTB>>10,
		ms.RAM>>20)
}
