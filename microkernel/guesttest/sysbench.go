package guesttest

import (
	"regexp"
	"strconv"
	"strings"
)

// SysbenchPackage is the benchmark program (progs/sysbench) that runs both
// as an armos process and on the Linux reference guest.
const SysbenchPackage = "microkernel/guesttest/progs/sysbench"

// IcountArgs are QEMU's options for instruction counting: with
// -icount shift=0 the virtual clock advances 1 ns per guest instruction,
// so a time measured inside the guest is an instruction count, which a
// busy host does not move. armos takes them as Machine.Extra, the Linux
// reference guest as linuxref.Machine.Icount.
var IcountArgs = []string{"-icount", "shift=0"}

// SysbenchFigure is one measurement line of sysbench:
//
//	sysbench: NAME COUNT ops TOTAL ns PEROP ns/op
//	sysbench: NAME COUNT procs TOTAL KiB PEROP KiB/proc
type SysbenchFigure struct {
	Name  string  // e.g. "null", "pipe-poll", "idlemem"
	Count int64   // operations, or processes
	Total int64   // ns, or KiB
	PerOp float64 // Total/Count
	Unit  string  // "ns/op" or "KiB/proc"
}

var (
	sysbenchLine = regexp.MustCompile(`sysbench: (\S+) (\d+) (?:ops|procs) (-?\d+) (?:ns|KiB) (-?[0-9.]+) (ns/op|KiB/proc)\s*$`)
	sysbenchFail = regexp.MustCompile(`sysbench: FAIL (\S+): (.*?)\s*$`)
)

// ParseSysbench reads sysbench's figures (by name; a later line of the
// same name wins) and its failure lines ("NAME: REASON") from console
// output. Lines may carry prefixes (armos and the Linux guest put the
// program's name before each of its lines).
func ParseSysbench(out string) (map[string]SysbenchFigure, []string) {
	figs := map[string]SysbenchFigure{}
	var fails []string
	for _, line := range strings.Split(out, "\n") {
		if m := sysbenchFail.FindStringSubmatch(line); m != nil {
			fails = append(fails, m[1]+": "+m[2])
			continue
		}
		m := sysbenchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := SysbenchFigure{Name: m[1], Unit: m[5]}
		var err1, err2, err3 error
		f.Count, err1 = strconv.ParseInt(m[2], 10, 64)
		f.Total, err2 = strconv.ParseInt(m[3], 10, 64)
		f.PerOp, err3 = strconv.ParseFloat(m[4], 64)
		if err1 != nil || err2 != nil || err3 != nil || f.Count == 0 {
			continue
		}
		figs[f.Name] = f
	}
	return figs, fails
}
