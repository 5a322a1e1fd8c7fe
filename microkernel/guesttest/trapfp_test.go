package guesttest

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTrapCodeFPRegisters checks the premise of the kernel's FP/SIMD
// handling (microkernel/internal/rt/trapfp.go): code that runs in trap
// context changes no FP/SIMD register but V0-V3 and V16-V17, the ones the
// trap entry saves; the others stay in the CPU for the thread that owns
// them. It disassembles the built kernel and follows the direct calls from
// rt.trap and from every system call handler (the table's indirect calls;
// closures of a reached function count as reached), and fails on any
// reached function that names another V register. A new Go release whose
// compiler uses more registers for copies fails here, not in a guest.
//
// Not followed: what only stops the kernel or may not run in trap context
// at all (panics, stack growth, which trapG never needs, write barriers,
// which the trap-level rules exclude and this test checks are never
// called), and the helpers that move the registers on purpose.
func TestTrapCodeFPRegisters(t *testing.T) {
	k := kernel(t)
	out, err := exec.Command("go", "tool", "objdump", k).Output()
	require.NoError(t, err)

	allowed := map[int]bool{0: true, 1: true, 2: true, 3: true, 16: true, 17: true}
	const rt = "armos/microkernel/internal/rt."
	skip := regexp.MustCompile(`^runtime\.(panic|goPanic|gopanic|morestack|gcWriteBarrier|wbMove|wbZero|throw|fatal)|^` +
		regexp.QuoteMeta(rt) + `(trapCommon|fpSaveRest|fpLoadRest|fpSwap)\.abi0$`)
	callRe := regexp.MustCompile(`\b(?:CALL|JMP|B|BL)\s+([^\s(]+)\(SB\)`)
	symRe := regexp.MustCompile(`[^\s(,$]+\(SB\)`)
	regRe := regexp.MustCompile(`\b[FV]([0-9]+)\b`)

	calls := map[string][]string{}
	regs := map[string]map[int]bool{}
	var names []string
	var fn string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "TEXT ") {
			fn = strings.TrimSuffix(strings.Fields(line)[1], "(SB)")
			names = append(names, fn)
			regs[fn] = map[int]bool{}
			continue
		}
		// "  file:line\t0xaddr\t\tencoding\t\tinstruction\t\t"
		var f []string
		for _, x := range strings.Split(line, "\t") {
			if x = strings.TrimSpace(x); x != "" {
				f = append(f, x)
			}
		}
		if fn == "" || len(f) < 4 {
			continue
		}
		ins := f[3]
		if m := callRe.FindStringSubmatch(ins); m != nil {
			calls[fn] = append(calls[fn], m[1])
		}
		for _, m := range regRe.FindAllStringSubmatch(symRe.ReplaceAllString(ins, ""), -1) {
			n := 0
			for _, c := range m[1] {
				n = n*10 + int(c-'0')
			}
			regs[fn][n] = true
		}
	}
	require.NoError(t, sc.Err())
	require.Contains(t, regs, rt+"trap", "no rt.trap in the disassembly")

	handler := regexp.MustCompile(`^` + regexp.QuoteMeta(rt) + `sys\w*Fn$`)
	var queue []string
	seen := map[string]bool{}
	reach := func(f string) {
		if !seen[f] && !skip.MatchString(f) {
			seen[f] = true
			queue = append(queue, f)
		}
	}
	reach(rt + "trap")
	for _, f := range names {
		if handler.MatchString(f) {
			reach(f)
		}
	}
	require.Greater(t, len(queue), 50, "system call handlers found")
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		for _, c := range calls[f] {
			reach(c)
		}
		for _, g := range names {
			if strings.HasPrefix(g, f+".func") {
				reach(g)
			}
		}
	}
	require.True(t, seen[rt+"copyIn"] && seen["runtime.memmove"] && seen[rt+"schedule"],
		"the walk reaches the copy helpers, memmove and the scheduler")

	var bad []string
	for f := range seen {
		for r := range regs[f] {
			if !allowed[r] {
				bad = append(bad, f)
				break
			}
		}
	}
	sort.Strings(bad)
	require.Empty(t, bad, "functions run in trap context that change FP/SIMD registers the trap entry does not save (%d functions reached)", len(seen))
	// Nor may trap code store a Go pointer where the collector would see
	// it: a write barrier, when the collector runs, reads the current g
	// and m, which trap context does not have (a send plan kept its page
	// window as an unsafe.Pointer once, and netd's restarts faulted the
	// kernel there).
	var barriers []string
	for f := range seen {
		for _, c := range calls[f] {
			if strings.HasPrefix(c, "runtime.gcWriteBarrier") || c == "runtime.wbMove" || c == "runtime.wbZero" {
				barriers = append(barriers, f)
				break
			}
		}
	}
	sort.Strings(barriers)
	require.Empty(t, barriers, "functions run in trap context with write barriers")
	var outside []string
	for f := range seen {
		if !strings.HasPrefix(f, "armos/") {
			outside = append(outside, f)
		}
	}
	sort.Strings(outside)
	t.Logf("%d functions reachable from the trap path use only V0-V3 and V16-V17 (outside armos: %s)",
		len(seen), strings.Join(outside, ", "))
}
