// Command mkimage writes armos's boot image: a cpio "newc" archive of the
// programs and files the kernel reads through QEMU's fw_cfg (see
// internal/bootimg and internal/fwcfg).
//
//	go run ./microkernel/cmd/mkimage -o out/armos.img [-C dir] [-allow-any] SPEC...
//
// Each SPEC is either
//
//	path-in-image=host-file   a regular file with the host file's contents
//	path-in-image/            a directory (parents of files need no SPEC)
//
// Paths in the image may start with "/" and must otherwise be clean
// ("bin/hello", "/etc/motd"). Host files are relative to -C dir (default:
// the current directory).
//
// The output depends only on the paths and contents: entries are sorted
// by path, every parent directory gets its own entry before its children,
// mtimes, uids and gids are 0, inode numbers count up in path order.
// Directories are 0755; files under /bin are 0755, other files 0755 if
// the host file is executable by anyone, else 0644.
//
// Every file under /bin must be a static linux/arm64 ELF executable
// (64-bit little-endian, EM_AARCH64, ET_EXEC or ET_DYN, no PT_INTERP);
// -allow-any skips that check. The finished archive is parsed with
// bootimg.Parse, the kernel's own parser, before it is written, so the
// kernel accepts whatever mkimage writes. The output file is replaced
// atomically.
//
// Boot it beside the kernel with
//
//	qemu-system-aarch64 -M virt ... -kernel out/kernel.elf -fw_cfg name=opt/armos/image,file=out/armos.img
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
		}
		os.Exit(2)
	}
}

// run is the command: parse flags and arguments, build, write.
func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output `file` (required)")
	var opt Options
	fs.StringVar(&opt.Dir, "C", "", "read host files relative to `dir`")
	fs.BoolVar(&opt.AllowAny, "allow-any", false, "do not require files under /bin to be static linux/arm64 executables")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mkimage -o out/armos.img [-C dir] [-allow-any] path-in-image=host-file... dir/...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("-o is required")
	}
	items, err := ParseArgs(fs.Args())
	if err != nil {
		return err
	}
	img, err := Build(items, opt)
	if err != nil {
		return err
	}
	return writeFile(*out, img)
}

// writeFile replaces path with data atomically (a temporary file in the
// same directory, renamed over it).
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
