package main

import (
	"encoding/binary"
	"math/rand/v2"
)

// maxNr is the highest system call number generated; numbers are drawn
// uniformly from 0..maxNr, so unassigned numbers (ENOSYS) are tried too.
const maxNr = 449

// smallMax bounds the "small integer" arguments: 1..smallMax-1. They reach
// the file descriptors a process usually has, flags and sizes. The program
// keeps its own console at a descriptor above it.
const smallMax = 64

// A Call is one system call: its number and six arguments.
type Call struct {
	Nr   uintptr
	Args [6]uintptr
}

// Argument classes, drawn with equal probability.
const (
	argZero    = iota // 0
	argSmall          // 1..smallMax-1
	argMinus1         // -1: all bits set
	argPointer        // an address inside the scratch buffer
	argGarbage        // 64 random bits
	argClasses
)

// A Generator produces the calls of one fuzzing run. The sequence depends
// only on the seed and the scratch buffer's address and size, so a run can
// be repeated.
type Generator struct {
	rng     *rand.Rand
	scratch uintptr // start of the scratch buffer
	size    uintptr // its length in bytes
}

// NewGenerator returns a generator for seed whose pointer arguments point
// into the size bytes at scratch.
func NewGenerator(seed uint64, scratch, size uintptr) *Generator {
	if size == 0 {
		panic("sysfuzz: empty scratch buffer")
	}
	return &Generator{
		rng:     rand.New(rand.NewPCG(seed, seed^0x5eed_f0f0_1234_abcd)),
		scratch: scratch,
		size:    size,
	}
}

// Arg returns one random argument value.
func (g *Generator) Arg() uintptr {
	switch g.rng.IntN(argClasses) {
	case argZero:
		return 0
	case argSmall:
		return uintptr(1 + g.rng.IntN(smallMax-1))
	case argMinus1:
		return ^uintptr(0)
	case argPointer:
		off := uintptr(g.rng.Uint64N(uint64(g.size)))
		if g.rng.IntN(2) == 0 {
			off &^= 7 // half of them aligned, as structures are
		}
		return g.scratch + off
	default:
		return uintptr(g.rng.Uint64())
	}
}

// Next returns the next call: a number that is not excluded, with random
// arguments, sanitized where the arguments alone would make a call end the
// fuzzer (see Excluded and sanitize).
func (g *Generator) Next() Call {
	for {
		c := Call{Nr: uintptr(g.rng.IntN(maxNr + 1))}
		for i := range c.Args {
			c.Args[i] = g.Arg()
		}
		if reason := Excluded(c); reason != "" {
			continue
		}
		sanitize(&c)
		return c
	}
}

// Fill overwrites b with random words of the argument classes, so that
// structures the kernel reads from the scratch buffer hold plausible
// values: zeros, small counts, -1, pointers back into the buffer, garbage.
func (g *Generator) Fill(b []byte) {
	for len(b) >= 8 {
		binary.NativeEndian.PutUint64(b, uint64(g.Arg()))
		b = b[8:]
	}
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
}

// Excluded returns why the call c must not be made, or "" if it may be.
func Excluded(c Call) string {
	if reason, ok := excludedCalls[c.Nr]; ok {
		return reason
	}
	if readCalls[c.Nr] && c.Args[0] == 0 {
		return readsStdin
	}
	return ""
}

// mmap flags that sanitize clears.
const (
	mapFixed          = 0x10     // MAP_FIXED: would replace the fuzzer's own memory
	mapFixedNoreplace = 0x100000 // MAP_FIXED_NOREPLACE: cleared with MAP_FIXED
	mapPopulate       = 0x8000   // MAP_POPULATE: commits the whole length at once
	mapLocked         = 0x2000   // MAP_LOCKED: likewise
)

// sanitize changes the arguments of calls that are allowed only in part:
// mmap may not map over existing memory (MAP_FIXED would replace the Go
// heap or stacks) nor commit a garbage length at once (an out-of-memory
// kill). Without MAP_FIXED the address is only a hint.
func sanitize(c *Call) {
	if c.Nr == sysMmap {
		c.Args[3] &^= mapFixed | mapFixedNoreplace | mapPopulate | mapLocked
	}
}
