// Command ps lists armos's processes (armos_proc_list):
//
//	 PID  PPID STATE    THR   MEM(KiB)      CPU(ms)  NAME
//	4100     1 running    5       1224         35.2  init
package main

import (
	"fmt"
	"os"

	"armos/libsys"
)

func main() {
	ps, err := libsys.Processes()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ps:", err)
		os.Exit(1)
	}
	fmt.Printf("%5s %5s %-8s %4s %10s %4s %4s %12s  %s\n", "PID", "PPID", "STATE", "THR", "MEM(KiB)", "FDS", "MSGQ", "CPU(ms)", "NAME")
	for _, p := range ps {
		fmt.Printf("%5d %5d %-8s %4d %10d %4d %4d %12.1f  %s\n", p.Pid, p.PPid, p.State, p.Threads, p.MemoryKiB, p.Handles,
			p.Queued, float64(p.CPU.Microseconds())/1000, p.Name)
	}
}
