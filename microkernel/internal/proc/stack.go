package proc

import (
	"encoding/binary"
	"errors"
)

// Auxiliary vector keys (Linux include/uapi/linux/auxvec.h).
const (
	AtNull        = 0
	AtPhdr        = 3
	AtPhent       = 4
	AtPhnum       = 5
	AtPagesz      = 6
	AtEntry       = 9
	AtClktck      = 17
	AtSysinfoEhdr = 33
	AtUID         = 11
	AtEUID        = 12
	AtGID         = 13
	AtEGID        = 14
	AtHwcap       = 16
	AtSecure      = 23
	AtRandom      = 25
	AtExecfn      = 31
)

// MaxStackSetup bounds the initial stack image (strings, vectors, random
// bytes): one process's argv and envp must fit in it.
const MaxStackSetup = 64 << 10

// ErrStackTooBig is returned when argv and envp do not fit MaxStackSetup.
var ErrStackTooBig = errors.New("proc: argv and envp exceed the initial stack limit")

// StackArgs is what goes on a new process's initial stack.
type StackArgs struct {
	Argv   []string
	Envp   []string
	Auxv   [][2]uint64 // extra (key, value) pairs; AT_RANDOM, AT_EXECFN and AT_NULL are added
	Random [16]byte    // the AT_RANDOM bytes (the Go runtime seeds its hash from them)
}

// BuildStack lays out a Linux arm64 initial stack that ends just below top
// (16-byte aligned): at sp, argc; then argv pointers, NULL, envp pointers,
// NULL, auxv pairs ending with AT_NULL; above them the random bytes and the
// strings. It returns the bytes to copy to [sp, top) and sp.
func BuildStack(top uint64, a StackArgs) ([]byte, uint64, error) {
	strLen := 16 // AT_RANDOM bytes
	for _, s := range a.Argv {
		strLen += len(s) + 1
	}
	for _, s := range a.Envp {
		strLen += len(s) + 1
	}
	words := 1 + len(a.Argv) + 1 + len(a.Envp) + 1 + 2*(len(a.Auxv)+3)
	total := (words*8 + strLen + 15) &^ 15
	if total > MaxStackSetup || top < uint64(total) || top%16 != 0 {
		return nil, 0, ErrStackTooBig
	}
	sp := top - uint64(total)
	buf := make([]byte, total)
	le := binary.LittleEndian
	// Strings from the end: random bytes at the top, then each string.
	str := total
	put := func(b []byte) uint64 {
		str -= len(b)
		copy(buf[str:], b)
		return sp + uint64(str)
	}
	random := put(a.Random[:])
	strs := func(ss []string) []uint64 {
		ptrs := make([]uint64, len(ss))
		for i, s := range ss {
			ptrs[i] = put(append([]byte(s), 0))
		}
		return ptrs
	}
	argv, envp := strs(a.Argv), strs(a.Envp)
	w := 0
	word := func(v uint64) { le.PutUint64(buf[w:], v); w += 8 }
	word(uint64(len(a.Argv)))
	for _, p := range argv {
		word(p)
	}
	word(0)
	for _, p := range envp {
		word(p)
	}
	word(0)
	for _, kv := range a.Auxv {
		word(kv[0])
		word(kv[1])
	}
	execfn := uint64(0)
	if len(argv) > 0 {
		execfn = argv[0]
	}
	word(AtRandom)
	word(random)
	word(AtExecfn)
	word(execfn)
	word(AtNull)
	word(0)
	return buf, sp, nil
}
