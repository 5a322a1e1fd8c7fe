// Package insnprof profiles a QEMU guest by guest instructions: a QEMU
// TCG plugin (tools/qemu-insnprof/insnprof.c) counts how often each
// translation block runs, snapshots of those counts are taken around the
// work to measure, and their difference is attributed to the functions of
// the programs and the kernel by their ELF symbols.
//
// Programs must be linked apart (guesttest.BuildImageApart): every armos
// process runs in its own address space, and a block is known to the
// plugin only by its virtual address.
package insnprof

import (
	"bufio"
	"cmp"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BuildPlugin compiles the plugin from the module at root into dir and
// returns the shared object's path. It needs the host's C compiler.
func BuildPlugin(root, dir string) (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		if cc, err = exec.LookPath("gcc"); err != nil {
			return "", fmt.Errorf("insnprof needs a C compiler for its QEMU plugin (apt-get install gcc): %w", err)
		}
	}
	so := filepath.Join(dir, "insnprof.so")
	src := filepath.Join(root, "tools", "qemu-insnprof", "insnprof.c")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", so, src, "-lpthread").CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the plugin: %v\n%s", err, out)
	}
	return so, nil
}

// Session is one QEMU run with the plugin.
type Session struct {
	Out string // the plugin's out= path
	n   int    // snapshots taken
}

// NewSession returns a session writing under dir.
func NewSession(dir string) *Session { return &Session{Out: filepath.Join(dir, "prof")} }

// QEMUArgs returns the arguments that load the plugin.
func (s *Session) QEMUArgs(plugin string) []string {
	return []string{"-plugin", plugin + ",out=" + s.Out}
}

// Counts is what ran, by block start address.
type Counts map[uint64]Count

// Count is a block's (or the blocks at one address's) guest instructions
// executed and runs.
type Count struct{ Insns, Runs uint64 }

// Snapshot asks the plugin for its counters (cumulative since boot).
func (s *Session) Snapshot(ctx context.Context) (Counts, error) {
	final := fmt.Sprintf("%s.%d", s.Out, s.n)
	if err := os.WriteFile(s.Out+".req", nil, 0o644); err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(final); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("insnprof: no snapshot %s: %w", final, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	s.n++
	return readCounts(final)
}

// Final reads the snapshot the plugin wrote as QEMU exited.
func (s *Session) Final() (Counts, error) { return readCounts(s.Out + ".final") }

func readCounts(path string) (Counts, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := Counts{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		va, err1 := strconv.ParseUint(fs[0], 16, 64)
		insns, err2 := strconv.ParseUint(fs[1], 10, 64)
		runs, err3 := strconv.ParseUint(fs[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		x := c[va]
		c[va] = Count{Insns: x.Insns + insns*runs, Runs: x.Runs + runs}
	}
	return c, sc.Err()
}

// Sub returns c - base (blocks that ran since base).
func (c Counts) Sub(base Counts) Counts {
	d := Counts{}
	for va, n := range c {
		if b := base[va]; n.Insns > b.Insns {
			d[va] = Count{Insns: n.Insns - b.Insns, Runs: n.Runs - b.Runs}
		}
	}
	return d
}

// Total is the sum of all counts.
func (c Counts) Total() uint64 {
	var t uint64
	for _, n := range c {
		t += n.Insns
	}
	return t
}

// Symbols maps addresses to program and function.
type Symbols struct {
	funcs []fn
}

type fn struct {
	start, end uint64
	prog, name string
}

// AddELF adds the function symbols of the ELF file at path as program
// prog.
func (s *Symbols) AddELF(prog, path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var mine []fn
	for _, sy := range syms {
		if elf.ST_TYPE(sy.Info) != elf.STT_FUNC && !(elf.ST_TYPE(sy.Info) == elf.STT_NOTYPE && sy.Section < elf.SectionIndex(len(f.Sections)) && f.Sections[sy.Section].Flags&elf.SHF_EXECINSTR != 0) {
			continue
		}
		mine = append(mine, fn{start: sy.Value, end: sy.Value + sy.Size, prog: prog, name: sy.Name})
	}
	slices.SortFunc(mine, func(a, b fn) int { return cmp.Compare(a.start, b.start) })
	// Symbols without a size run to the next one.
	for i := range mine {
		if mine[i].end == mine[i].start && i+1 < len(mine) {
			mine[i].end = mine[i+1].start
		}
	}
	s.funcs = append(s.funcs, mine...)
	slices.SortFunc(s.funcs, func(a, b fn) int { return cmp.Compare(a.start, b.start) })
	return nil
}

func (s *Symbols) lookup(va uint64) (prog, name string, entry bool) {
	i, _ := slices.BinarySearchFunc(s.funcs, va, func(f fn, v uint64) int {
		if f.start > v {
			return 1
		}
		return -1
	})
	// i is the first function starting after va.
	if i > 0 && va < s.funcs[i-1].end {
		return s.funcs[i-1].prog, s.funcs[i-1].name, va == s.funcs[i-1].start
	}
	return "?", fmt.Sprintf("%#x", va), false
}

// Row is one function's share of a profile: its instructions and how
// often it was entered (its first block's runs: calls, but also loops
// back to its first instruction).
type Row struct {
	Prog, Func   string
	Insns, Calls uint64
}

// Attribute sums c by function, largest first, and by program.
func (s *Symbols) Attribute(c Counts) (funcs []Row, progs []Row) {
	byFn := map[[2]string]Row{}
	byProg := map[string]uint64{}
	for va, n := range c {
		p, f, entry := s.lookup(va)
		r := byFn[[2]string{p, f}]
		r.Insns += n.Insns
		if entry {
			r.Calls += n.Runs
		}
		byFn[[2]string{p, f}] = r
		byProg[p] += n.Insns
	}
	for k, r := range byFn {
		funcs = append(funcs, Row{Prog: k[0], Func: k[1], Insns: r.Insns, Calls: r.Calls})
	}
	for p, n := range byProg {
		progs = append(progs, Row{Prog: p, Insns: n})
	}
	order := func(a, b Row) int {
		if c := cmp.Compare(b.Insns, a.Insns); c != 0 {
			return c
		}
		return cmp.Compare(a.Prog+a.Func, b.Prog+b.Func)
	}
	slices.SortFunc(funcs, order)
	slices.SortFunc(progs, order)
	return funcs, progs
}

// Report formats a profile of c per unit (e.g. per KiB): the programs,
// then the top functions, each with its instructions per unit, share and
// entries per unit, then each program's top functions.
func (s *Symbols) Report(title string, c Counts, units float64, top int) string {
	funcs, progs := s.Attribute(c)
	total := float64(c.Total())
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %.0f guest instructions per unit\n", title, total/units)
	for _, r := range progs {
		fmt.Fprintf(&b, "  %-12s %10.0f %5.1f%%\n", r.Prog, float64(r.Insns)/units, 100*float64(r.Insns)/total)
	}
	for i, r := range funcs {
		if i == top {
			break
		}
		fmt.Fprintf(&b, "  %10.0f %5.1f%% %8.2f  %-10s %s\n", float64(r.Insns)/units, 100*float64(r.Insns)/total, float64(r.Calls)/units, r.Prog, r.Func)
	}
	for _, p := range progs {
		fmt.Fprintf(&b, " %s, its top functions:\n", p.Prog)
		n := 0
		for _, r := range funcs {
			if r.Prog != p.Prog {
				continue
			}
			if n == top/2 {
				break
			}
			n++
			fmt.Fprintf(&b, "  %10.0f %5.1f%% %8.2f  %s\n", float64(r.Insns)/units, 100*float64(r.Insns)/float64(p.Insns), float64(r.Calls)/units, r.Func)
		}
	}
	return b.String()
}

// AddRegion names the addresses [start, end) as one function, name, of
// prog: code without symbols (a distribution's kernel).
func (s *Symbols) AddRegion(prog, name string, start, end uint64) {
	s.funcs = append(s.funcs, fn{start: start, end: end, prog: prog, name: name})
	slices.SortFunc(s.funcs, func(a, b fn) int { return cmp.Compare(a.start, b.start) })
}

// Full lists every function of c per unit: instructions, entries,
// program, name; largest first.
func (s *Symbols) Full(c Counts, units float64) string {
	funcs, _ := s.Attribute(c)
	var b strings.Builder
	for _, r := range funcs {
		fmt.Fprintf(&b, "%12.1f %10.2f  %-10s %s\n", float64(r.Insns)/units, float64(r.Calls)/units, r.Prog, r.Func)
	}
	return b.String()
}

// Category rules: the first whose pattern a function's name matches
// names its category (Categorize). They sort a Go program's functions
// into what a reader of the profile asks about: copying, encoding, the
// Go runtime's scheduling, allocation and so on; the kernel's into its
// trap path, IPC and the rest.
var categories = []struct {
	name string
	re   *regexp.Regexp
}{
	{"copying", regexp.MustCompile(`^runtime\.memmove$|^runtime\.typedmemmove$|arch\.Copy|arch\.copyWide|rt\.copyIn$|rt\.copyOut$|rt\.userCopy|rt\.fastUser$|rt\.msgChunk$|rt\.fillMsg$|TranslateEL0|usercopy|CopyIn|CopyOut|mm\.\(\*AddressSpace\)\.(write|userPA|userPage)`)},
	{"msgpack encoding", regexp.MustCompile(`msgpack|^reflect\.|libipc\.scan|libipc\.\(\*appendWriter\)|libipc\.Append|libipc\.Parse|libipc/mpread|libipc/mpwrite|Decode|Encode|Parse[A-Z]|bytes\.\(\*Reader\)|io\.ReadAtLeast|io\.ReadFull`)},
	{"allocation and GC", regexp.MustCompile(`^runtime\.(malloc|newobject|makeslice|growslice|nextFree|refill|memclr|mspan|mcache|mheap|sweep|gc|scan|greyobject|findObject|wbBuf|bulkBarrier|heapBits|typePointers|newarray|makemap|mProf|profilealloc|deductAssist|(\(\*mspan\))|(\(\*mcache\))|(\(\*mheap\)))`)},
	{"channels and select", regexp.MustCompile(`^runtime\.(selectgo|sel|chansend|chanrecv|chanbuf|chanlen|closechan|makechan|send$|recv$|acquireSudog|releaseSudog)`)},
	{"locks and atomics", regexp.MustCompile(`^runtime\.(lock|unlock|lock2|unlock2|semacquire|semrelease|procyield|osyield)|^sync\.|^internal/sync\.|sync/atomic`)},
	{"Go scheduler, poller, timers", regexp.MustCompile(`^runtime\.|^internal/runtime|^time\.|^internal/poll\.|^syscall\.|^os\.`)},
	{"kernel: trap entry and exit", regexp.MustCompile(`rt\.(trap|trapCommon|syscall$|finishTrap|procTTBR|syncTTBR|noteMasked|vectors|el0|irq|ret|handleIRQ|timerIRQ)`)},
	{"kernel: IPC", regexp.MustCompile(`rt\.(sysChan|sysReply|chan|xfer|deliver|queueMsg|newMsg|freeMsg|releaseMsg|buildMsg|sendTo|checkSend|checkFds|blockedReceiver|notify|drainReleases|readMsgArg)|mm\.\(\*PhysMem\)|rt\.(allocPage|freePages)`)},
	{"kernel: scheduling, epoll, futex, time", regexp.MustCompile(`rt\.(schedule|block|makeRunnable|dequeue|enqueue|wake|heap|sysEpoll|epoll|poll|sysFutex|futex|sysNanosleep|sysClock|timer|deadline)|arch\.Counter`)},
}

// Categorize sums c by program and category (categories in the order
// above, then "other").
func (s *Symbols) Categorize(c Counts) map[string]map[string]uint64 {
	funcs, _ := s.Attribute(c)
	out := map[string]map[string]uint64{}
	for _, r := range funcs {
		cat := "other"
		for _, k := range categories {
			if k.re.MatchString(r.Func) {
				cat = k.name
				break
			}
		}
		if out[r.Prog] == nil {
			out[r.Prog] = map[string]uint64{}
		}
		out[r.Prog][cat] += r.Insns
	}
	return out
}

// CategoryReport formats Categorize's sums per unit: a row per category,
// a column per program (progs, in that order) and their total.
func (s *Symbols) CategoryReport(title string, c Counts, units float64, progs []string) string {
	sums := s.Categorize(c)
	var b strings.Builder
	fmt.Fprintf(&b, "%s, by category (guest instructions per unit)\n%-40s", title, "category")
	for _, p := range progs {
		fmt.Fprintf(&b, " %10s", p)
	}
	fmt.Fprintf(&b, " %10s\n", "all")
	names := []string{}
	for _, k := range categories {
		names = append(names, k.name)
	}
	for _, cat := range append(names, "other") {
		var all uint64
		for _, m := range sums {
			all += m[cat]
		}
		if all == 0 {
			continue
		}
		fmt.Fprintf(&b, "%-40s", cat)
		for _, p := range progs {
			fmt.Fprintf(&b, " %10.0f", float64(sums[p][cat])/units)
		}
		fmt.Fprintf(&b, " %10.0f\n", float64(all)/units)
	}
	return b.String()
}
