package main

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// These tests run the generator only; they never make a system call.

const (
	testScratch = uintptr(0x7f00_0000_0000)
	testSize    = uintptr(scratchSize)
)

func inScratch(v uintptr) bool { return v >= testScratch && v < testScratch+testSize }

func TestSameSeedSameCalls(t *testing.T) {
	a, b := NewGenerator(42, testScratch, testSize), NewGenerator(42, testScratch, testSize)
	buf1, buf2 := make([]byte, 256), make([]byte, 256)
	for range 1000 {
		require.Equal(t, a.Next(), b.Next())
	}
	a.Fill(buf1)
	b.Fill(buf2)
	require.Equal(t, buf1, buf2)

	c := NewGenerator(43, testScratch, testSize)
	same := 0
	for range 100 {
		if a.Next() == c.Next() {
			same++
		}
	}
	require.Less(t, same, 5, "different seeds should give different calls")
}

func TestNeverExcluded(t *testing.T) {
	g := NewGenerator(1, testScratch, testSize)
	seen := make(map[uintptr]bool)
	for range 200_000 {
		c := g.Next()
		require.LessOrEqual(t, c.Nr, uintptr(maxNr))
		_, excluded := excludedCalls[c.Nr]
		require.False(t, excluded, "excluded call %d generated", c.Nr)
		require.False(t, readCalls[c.Nr] && c.Args[0] == 0, "read-type call %d on descriptor 0", c.Nr)
		require.Empty(t, Excluded(c))
		if c.Nr == sysMmap {
			require.Zero(t, c.Args[3]&(mapFixed|mapFixedNoreplace|mapPopulate|mapLocked),
				"mmap flags %#x not sanitized", c.Args[3])
		}
		seen[c.Nr] = true
	}
	// Every number that is not excluded comes up.
	for nr := uintptr(0); nr <= maxNr; nr++ {
		_, excluded := excludedCalls[nr]
		require.Equal(t, !excluded, seen[nr], "call %d", nr)
	}
}

func TestExclusionTable(t *testing.T) {
	for _, nr := range []uintptr{syscall.SYS_EXIT, syscall.SYS_EXIT_GROUP, syscall.SYS_EXECVE, syscall.SYS_CLONE,
		syscall.SYS_KILL, syscall.SYS_FUTEX, syscall.SYS_REBOOT, syscall.SYS_RT_SIGRETURN} {
		require.Contains(t, excludedCalls, nr)
	}
	for nr, reason := range excludedCalls {
		require.LessOrEqual(t, nr, uintptr(maxNr))
		require.NotEmpty(t, reason, "call %d", nr)
	}
	require.NotContains(t, excludedCalls, uintptr(sysMmap), "mmap is sanitized, not excluded")
	for nr := range readCalls {
		require.NotContains(t, excludedCalls, nr)
		require.Equal(t, readsStdin, Excluded(Call{Nr: nr}))
		require.Empty(t, Excluded(Call{Nr: nr, Args: [6]uintptr{3}}))
	}
}

func TestSanitizeMmap(t *testing.T) {
	c := Call{Nr: sysMmap, Args: [6]uintptr{testScratch, 4096, 3, ^uintptr(0), 5, 0}}
	sanitize(&c)
	require.Equal(t, ^uintptr(mapFixed|mapFixedNoreplace|mapPopulate|mapLocked), c.Args[3])
	require.Equal(t, [6]uintptr{testScratch, 4096, 3, c.Args[3], 5, 0}, c.Args, "only the flags change")

	other := Call{Nr: sysMmap + 1, Args: [6]uintptr{0, 0, 0, ^uintptr(0)}}
	sanitize(&other)
	require.Equal(t, ^uintptr(0), other.Args[3])
}

// classify names the class an argument value falls in.
func classify(v uintptr) int {
	switch {
	case v == 0:
		return argZero
	case v < smallMax:
		return argSmall
	case v == ^uintptr(0):
		return argMinus1
	case inScratch(v):
		return argPointer
	default:
		return argGarbage
	}
}

func TestArgumentMix(t *testing.T) {
	g := NewGenerator(7, testScratch, testSize)
	const n = 100_000
	var counts [argClasses]int
	aligned := 0
	for range n {
		v := g.Arg()
		counts[classify(v)]++
		if inScratch(v) && (v-testScratch)%8 == 0 {
			aligned++
		}
	}
	for class, c := range counts {
		// Each class is drawn a fifth of the time (garbage may land
		// in another class, but hardly ever).
		require.InDelta(t, n/argClasses, c, n/50, "class %d", class)
	}
	require.Greater(t, aligned, counts[argPointer]/2, "half the pointers are aligned, plus some by chance")
}

func TestFillWritesArgumentWords(t *testing.T) {
	g := NewGenerator(9, testScratch, testSize)
	buf := make([]byte, 8*1000+3) // a tail shorter than a word too
	g.Fill(buf)
	var counts [argClasses]int
	for i := 0; i+8 <= len(buf); i += 8 {
		counts[classify(uintptr(binary.NativeEndian.Uint64(buf[i:])))]++
	}
	for class, c := range counts {
		require.Greater(t, c, 100, "class %d", class)
	}
}

func TestEmptyScratchPanics(t *testing.T) {
	require.Panics(t, func() { NewGenerator(1, testScratch, 0) })
}
