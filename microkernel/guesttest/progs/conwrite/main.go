// Command conwrite writes to a console port (consproto; servers/virtioconsd
// serves one) and prints a done line: its arguments joined by spaces and
// ended with a newline, or with -n N, N bytes of a known pattern (byte i
// of the stream is i mod 251, a period that never lines up with buffers
// or rings), in writes of at most -chunk bytes. Started by init beside
// virtioconsd, it waits (up to -wait) for the port to be registered.
//
//	conwrite [-port hvc0] [-n N] [-chunk 32768] [-wait 2m] [WORDS...]
//	conwrite: done 1052897 bytes to hvc0 in 33 writes, offset 1052897
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"armos/libipc"
	"armos/servers/virtioconsd/consproto"
)

func main() {
	port := flag.String("port", consproto.DefaultPort, "the console port's service name")
	n := flag.Int("n", -1, "write this many bytes of the pattern instead of the arguments")
	chunk := flag.Int("chunk", consproto.MaxWrite, "bytes per write (1..consproto.MaxWrite)")
	wait := flag.Duration("wait", 2*time.Minute, "how long to wait for the port to appear")
	flag.Parse()
	if *chunk < 1 || *chunk > consproto.MaxWrite || (*n >= 0) == (flag.NArg() > 0) {
		fmt.Fprintln(os.Stderr, "conwrite: usage: conwrite [-port NAME] [-chunk N] [-wait D] (-n N | WORDS...)")
		os.Exit(2)
	}
	var data []byte
	if *n >= 0 {
		data = make([]byte, *n)
		for i := range data {
			data[i] = byte(i % 251)
		}
	} else {
		data = []byte(strings.Join(flag.Args(), " ") + "\n")
	}
	if err := run(*port, data, *chunk, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "conwrite:", err)
		os.Exit(1)
	}
}

func run(name string, data []byte, chunk int, wait time.Duration) error {
	ctx := context.Background()
	boot, err := libipc.Bootstrap()
	if err != nil {
		return err
	}
	p, err := dial(ctx, boot, name, wait)
	if err != nil {
		return err
	}
	defer p.Close()
	writes := 0
	for off := 0; off < len(data); off += chunk {
		if _, err := p.Write(data[off:min(off+chunk, len(data))]); err != nil {
			return fmt.Errorf("after %d bytes: %w", off, err)
		}
		writes++
	}
	info, err := p.Info()
	if err != nil {
		return err
	}
	fmt.Printf("conwrite: done %d bytes to %s in %d writes, offset %d\n", len(data), name, writes, info.Offset)
	return nil
}

// dial connects to the port, trying again while it is not registered
// yet (its server starts beside this program).
func dial(ctx context.Context, boot *libipc.InitClient, name string, wait time.Duration) (*consproto.Port, error) {
	end := time.Now().Add(wait)
	for {
		p, err := consproto.Dial(ctx, boot, name)
		if err == nil || !errors.Is(err, libipc.ErrNotFound) || time.Now().After(end) {
			return p, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
