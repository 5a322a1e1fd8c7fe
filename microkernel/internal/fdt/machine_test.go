package fdt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMachineQEMUVirtGICv2(t *testing.T) {
	m, err := DecodeMachine(fixture(t, "virt"))
	require.NoError(t, err)

	require.Equal(t, []Region{{Base: 0x40000000, Size: 512 << 20}}, m.Memory)
	require.Equal(t, "selftest foo=bar", m.Bootargs)
	require.Equal(t, "/pl011@9000000", m.StdoutPath)
	require.Len(t, m.RNGSeed, 32)

	require.True(t, m.HasUART)
	require.Equal(t, uint64(0x09000000), m.UART.Base)
	require.Equal(t, uint64(0x1000), m.UART.Size)
	require.Equal(t, uint32(33), m.UART.IRQ.INTID)
	require.False(t, m.UART.IRQ.Edge())

	require.True(t, m.HasGIC)
	require.Equal(t, 2, m.GIC.Version)
	require.Equal(t, uint64(0x08000000), m.GIC.DistBase)
	require.Equal(t, uint64(0x10000), m.GIC.DistSize)
	require.Equal(t, uint64(0x08010000), m.GIC.CPUBase)
	require.Equal(t, uint64(0x10000), m.GIC.CPUSize)
	require.Zero(t, m.GIC.RedistBase)
	require.Equal(t, uint32(0x8002), m.GIC.Phandle)

	require.True(t, m.HasTimer)
	require.Equal(t, uint32(29), m.Timer.SecurePhys.INTID)
	require.Equal(t, uint32(30), m.Timer.Phys.INTID)
	require.Equal(t, uint32(27), m.Timer.Virt.INTID)
	require.Equal(t, uint32(26), m.Timer.HypPhys.INTID)
	require.Equal(t, uint32(TriggerLevelHigh|1<<8), m.Timer.Virt.Flags, "level-high, CPU 0 mask")
	require.False(t, m.Timer.Virt.Edge())

	require.Equal(t, PSCIHVC, m.PSCIMethod)

	require.Len(t, m.Virtio, 32)
	for n, v := range m.Virtio {
		require.Equal(t, uint64(0x0a000000+n*0x200), v.Base, "slot %d", n)
		require.Equal(t, uint64(0x200), v.Size)
		require.Equal(t, uint32(48+n), v.IRQ.INTID)
		require.Equal(t, uint32(TypeSPI), v.IRQ.Type)
		require.True(t, v.IRQ.Edge(), "virtio-mmio interrupts are edge-triggered")
	}
	// QEMU fills slots from the top: the first -device is at 0x0a003e00, INTID 79.
	last := m.Virtio[31]
	require.Equal(t, uint64(0x0a003e00), last.Base)
	require.Equal(t, uint32(79), last.IRQ.INTID)
	require.Equal(t, "/virtio_mmio@a003e00", last.Path)
}

func TestMachineQEMUVariants(t *testing.T) {
	t.Run("gicv3", func(t *testing.T) {
		m, err := DecodeMachine(fixture(t, "virt-gicv3"))
		require.NoError(t, err)
		require.Equal(t, 3, m.GIC.Version)
		require.Equal(t, uint64(0x08000000), m.GIC.DistBase)
		require.Equal(t, uint64(0x080a0000), m.GIC.RedistBase)
		require.Equal(t, uint64(0xf60000), m.GIC.RedistSize)
		require.Zero(t, m.GIC.CPUBase)
		require.Equal(t, uint32(27), m.Timer.Virt.INTID)
		require.Equal(t, uint32(TriggerLevelHigh), m.Timer.Virt.Flags, "GICv3 has no CPU mask")
		require.Equal(t, uint32(33), m.UART.IRQ.INTID)
	})
	t.Run("virtualization=on", func(t *testing.T) {
		m, err := DecodeMachine(fixture(t, "virt-el2"))
		require.NoError(t, err)
		require.Equal(t, PSCISMC, m.PSCIMethod)
		require.Equal(t, 2, m.GIC.Version)
		require.Equal(t, uint64(0x08010000), m.GIC.CPUBase)
	})
	t.Run("128M no bootargs", func(t *testing.T) {
		m, err := DecodeMachine(fixture(t, "virt-128m"))
		require.NoError(t, err)
		require.Equal(t, []Region{{Base: 0x40000000, Size: 128 << 20}}, m.Memory)
		require.Equal(t, "", m.Bootargs)
	})
	t.Run("virtio-net", func(t *testing.T) {
		m, err := DecodeMachine(fixture(t, "virt-net"))
		require.NoError(t, err)
		require.Len(t, m.Virtio, 32, "the tree lists every slot; DeviceID tells which is used")
		require.Equal(t, uint64(0x0a003e00), m.Virtio[31].Base)
	})
}

func TestMachineSMP(t *testing.T) {
	one, err := DecodeMachine(fixture(t, "virt"))
	require.NoError(t, err)
	require.Equal(t, []CPU{{MPIDR: 0}}, one.CPUs, "a single CPU has no enable-method")

	m, err := DecodeMachine(fixture(t, "virt-smp4"))
	require.NoError(t, err)
	require.Equal(t, []CPU{{0, "psci"}, {1, "psci"}, {2, "psci"}, {3, "psci"}}, m.CPUs)
	require.Equal(t, uint32(TriggerLevelHigh|0xf<<8), m.Timer.Virt.Flags, "PPI mask names 4 CPUs")
	require.Equal(t, []Region{{Base: 0x40000000, Size: 256 << 20}}, m.Memory)
}

func TestMachineRNGSeedDiffersPerBoot(t *testing.T) {
	a, err := DecodeMachine(fixture(t, "virt"))
	require.NoError(t, err)
	b, err := DecodeMachine(fixture(t, "virt-net"))
	require.NoError(t, err)
	require.NotEqual(t, a.RNGSeed, b.RNGSeed)
}

func BenchmarkDecodeMachine(b *testing.B) {
	blob := fixture(b, "virt")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMachine(blob); err != nil {
			b.Fatal(err)
		}
	}
}
