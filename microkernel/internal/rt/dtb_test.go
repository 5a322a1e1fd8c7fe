package rt

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// readDTB loads one of the QEMU DTBs kept by the fdt package's tests.
func readDTB(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open("../fdt/testdata/" + name + ".dtb.gz")
	require.NoError(t, err)
	defer f.Close()
	z, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(z)
	require.NoError(t, err)
	return b
}

func TestScanDTBQEMUVirt(t *testing.T) {
	var bi BootInfo
	require.True(t, ScanDTB(readDTB(t, "virt"), &bi))
	require.EqualValues(t, 0x40000000, bi.MemBase)
	require.NotZero(t, bi.MemSize)
	require.EqualValues(t, 0x09000000, bi.UART)
	require.Equal(t, 2, bi.GICVersion)
	require.EqualValues(t, 0x08000000, bi.GICDist)
	require.EqualValues(t, 0x08010000, bi.GICCPU)
	require.EqualValues(t, 27, bi.TimerIntid)
	require.False(t, bi.PSCISMC)
	require.Len(t, bi.RNGSeed, 32)
}

func TestScanDTBGICv3AndEL2(t *testing.T) {
	var bi BootInfo
	require.True(t, ScanDTB(readDTB(t, "virt-gicv3"), &bi))
	require.Equal(t, 3, bi.GICVersion)
	require.EqualValues(t, 0x080a0000, bi.GICCPU, "redistributor")

	var el2 BootInfo
	require.True(t, ScanDTB(readDTB(t, "virt-el2"), &el2))
	require.True(t, el2.PSCISMC, "virtualization=on uses the SMC conduit")

	var small BootInfo
	require.True(t, ScanDTB(readDTB(t, "virt-128m"), &small))
	require.EqualValues(t, 128<<20, small.MemSize)
}

func TestScanDTBRejectsDamage(t *testing.T) {
	blob := readDTB(t, "virt")
	var bi BootInfo
	require.False(t, ScanDTB(blob[:39], &bi))
	require.False(t, ScanDTB(bytes.Repeat([]byte{0}, 64), &bi))
	require.False(t, ScanDTB(blob[:len(blob)/2], &bi), "truncated blob")
}

func FuzzScanDTB(f *testing.F) {
	for _, name := range []string{"virt", "virt-gicv3"} {
		f.Add(readDTBForFuzz(name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var bi BootInfo
		ScanDTB(b, &bi) // must not panic or loop
	})
}

func readDTBForFuzz(name string) []byte {
	f, err := os.Open("../fdt/testdata/" + name + ".dtb.gz")
	if err != nil {
		return nil
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil
	}
	b, _ := io.ReadAll(z)
	return b
}
