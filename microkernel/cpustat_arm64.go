package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"armos/microkernel/internal/fdt"
	"armos/microkernel/internal/rt"
)

// The boot argument armos.cpustat=MS prints, every MS milliseconds, where
// the CPU's time went since boot, as counter time in ns:
//
//	armos: cpu at 1234567 idle 1000000 kernel[1] 1234 init[4103] 5678 netd[4111] 9012 ... end
//
// Each process is charged the time its threads ran, the system calls and
// interrupts taken meanwhile included (the scheduler charges at every
// switch); idle is the idle loop's. Under -icount shift=0 the counter
// counts guest instructions while anything runs, so two lines' difference
// is what each process cost over the interval (a benchmark's profile:
// BenchmarkNetworkProfile).

// startCPUStat starts the printer if the boot arguments ask for it.
func startCPUStat(m *fdt.Machine) {
	if m == nil {
		return
	}
	kernel, _ := commands(m.Bootargs)
	for _, w := range kernel {
		v, ok := strings.CutPrefix(w, "armos.cpustat=")
		if !ok {
			continue
		}
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			fmt.Printf("armos: bad %s: want a period in milliseconds\n", w)
			return
		}
		go func() {
			for range time.Tick(time.Duration(ms) * time.Millisecond) {
				fmt.Println(cpuStatLine())
				st := rt.ReadStats()
				fmt.Printf("armos: sched thread switches %d address space switches %d system calls %d end\n",
					st.Switches, st.TTBRSwitches, st.Syscalls)
				ipc := rt.ReadIPCStats()
				fmt.Printf("armos: ipc sent %d received %d handed off %d posted %d unposted %d full %d end\n",
					ipc.Sent, ipc.Received, ipc.Handoffs, ipc.Posted, ipc.Unposted, ipc.Full)
				fmt.Println(syscallLine())
			}
		}()
	}
}

// cpuStatLine is one armos.cpustat line.
func cpuStatLine() string {
	at, idle := rt.CPUTimes()
	var sb strings.Builder
	fmt.Fprintf(&sb, "armos: cpu at %d idle %d", at, idle)
	for _, p := range rt.ProcessList() {
		name := p.Name
		if p.Pid == 0 || name == "" {
			name = "kernel"
		}
		fmt.Fprintf(&sb, " %s[%d] %d", name, p.Pid, p.CPUNS)
	}
	sb.WriteString(" end") // a reader can tell a whole line from a cut one
	return sb.String()
}

// syscallLine is the armos.cpustat line of system calls by name, since
// boot: "armos: syscalls futex 1234 armos_chan_send 567 ... end".
func syscallLine() string {
	var sb strings.Builder
	sb.WriteString("armos: syscalls")
	for _, c := range rt.SyscallCounts() {
		fmt.Fprintf(&sb, " %s %d", strings.ReplaceAll(c.Name, " ", "_"), c.Count)
	}
	sb.WriteString(" end")
	return sb.String()
}
