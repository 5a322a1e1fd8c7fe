package rt

import "fmt"

// Census counts what processes hold, for checking that a process's end
// gives everything back: after every process has ended and been collected,
// a census equals the one taken before they started.
type Census struct {
	// Pages in use outside the kernel's own heap, its own threads (which
	// the kernel's runtime grows and shrinks on its own) and the page
	// cache (which keeps program files for the next process): process
	// structs, user threads, address spaces, pipes, epoll lists.
	Pages     uint64
	Processes int // user processes in any state
	Threads   int // user threads
	Objects   int // open file descriptions (the console's included)
	Queues    int // wait queues handed out
	Pipes     int
}

func (c Census) String() string {
	return fmt.Sprintf("pages %d processes %d threads %d objects %d queues %d pipes %d",
		c.Pages, c.Processes, c.Threads, c.Objects, c.Queues, c.Pipes)
}

// TakeCensus counts now.
func TakeCensus() Census {
	var c Census
	Locked(func() {
		kthreads := 0
		for i := 0; i < maxThreads; i++ {
			if thrPage[i] == 0 {
				continue
			}
			if th(i).proc == 0 {
				kthreads++
			} else {
				c.Threads++
			}
		}
		c.Pages = physPages.Stats().Used - kas.OwnedPages() - uint64(kthreads) - cachePages
		for p := 1; p < maxProcs; p++ {
			if procPage[p] != 0 {
				c.Processes++
			}
		}
		for i := range objs {
			if objs[i].kind != objFree {
				c.Objects++
			}
		}
		c.Queues = maxQueues - qFirstFree - nFreeQ
		for i := range pipes {
			if pipes[i].used {
				c.Pipes++
			}
		}
	})
	return c
}
