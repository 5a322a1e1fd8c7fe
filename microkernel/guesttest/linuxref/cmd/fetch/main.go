// Command fetch downloads Debian's arm64 cloud kernel for the Linux
// reference guest (see package linuxref) into a cache directory, default
// out/linuxref (or $LINUXREF_DIR). It re-uses an earlier download. Run it
// as root from the module root:
//
//	go run ./microkernel/guesttest/linuxref/cmd/fetch [-dir DIR] [-initramfs]
//
// With -initramfs it also builds /init and the initramfs into DIR/guest and
// prints the QEMU command line that boots them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"armos/microkernel/guesttest/linuxref"
)

func main() {
	def, err := linuxref.DefaultDir()
	if err != nil {
		def = filepath.Join("out", "linuxref")
	}
	dir := flag.String("dir", def, "cache directory for the apt lists, .debs and the unpacked kernel")
	initramfs := flag.Bool("initramfs", false, "also build /init and the initramfs into DIR/guest")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fatal(err)
	}
	a, err := linuxref.Fetch(ctx, abs, os.Stderr)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("kernel %s\nmodules %s\n", a.Kernel, a.ModulesDir)
	if !*initramfs {
		return
	}
	work := filepath.Join(abs, "guest")
	if err := os.MkdirAll(work, 0o755); err != nil {
		fatal(err)
	}
	g, err := linuxref.Prepare(a, work)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("initramfs %s (modules %s)\n", g.Initrd, strings.Join(g.Modules, " "))
	m := linuxref.Machine{MemoryMiB: 512, EchoPort: 5556}
	fmt.Printf("boot: qemu-system-aarch64 %s\n", strings.Join(quote(m.Args(g)), " "))
}

func quote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " ,\"'") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "fetch:", err)
	os.Exit(1)
}
