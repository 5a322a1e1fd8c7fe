// Package kbuild builds the kernel: the stock Go toolchain links it as a
// linux/arm64 executable at its virtual address in the kernel's linear map
// (mm.LinearBase + its physical load address), then Relocate rewrites the
// ELF's physical addresses so that QEMU's ELF loader, which loads segments
// at p_paddr and jumps to e_entry with the MMU off, puts the image in RAM
// and starts it there. docs/boot.md §1 explains the choice.
package kbuild

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"

	"armos/microkernel/internal/mm"
)

// LoadAddr is where the kernel's text starts in RAM: above the 2 MiB that
// QEMU needs for the DTB at 0x40000000 (QEMU only gives an ELF kernel a
// DTB that fits below the image's lowest load address). The ELF and
// program headers land in the page below.
const LoadAddr = 0x4020_1000

// LinkFlags are the kernel's linker flags: text at its linear-map address,
// entry main.boot, 4 KiB segment alignment.
var LinkFlags = fmt.Sprintf("-T %#x -E main.boot -R 0x1000", uint64(mm.LinearBase+LoadAddr))

// Command returns the go build command for the kernel at output (run it
// in the module root), then Relocate it.
func Command(root, output string) *exec.Cmd {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", LinkFlags, "-o", output, "./microkernel")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	return cmd
}

// Build builds the kernel ELF at output from the module at root. The
// linker's output is kept beside it (output + ".linked") and relocated
// into output: go build leaves a file it finds up to date alone, so
// relocating in place would patch an already patched file on the next
// build of an unchanged tree.
func Build(root, output string) error {
	linked := output + ".linked"
	if b, err := Command(root, linked).CombinedOutput(); err != nil {
		return fmt.Errorf("building the kernel: %v\n%s", err, b)
	}
	b, err := os.ReadFile(linked)
	if err != nil {
		return err
	}
	if err := relocate(b, mm.LinearBase); err != nil {
		return fmt.Errorf("%s: %w", linked, err)
	}
	return os.WriteFile(output, b, 0o755)
}

// Relocate rewrites the ELF file at path so that every PT_LOAD segment's
// physical address and the entry point are their virtual addresses minus
// offset. Segments must lie at or above offset.
func Relocate(path string, offset uint64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := relocate(b, offset); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o755)
}

// relocate patches the ELF image b in place.
func relocate(b []byte, offset uint64) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_AARCH64 {
		return fmt.Errorf("not a 64-bit little-endian arm64 ELF")
	}
	le := binary.LittleEndian
	phoff := le.Uint64(b[0x20:])
	phentsize := uint64(le.Uint16(b[0x36:]))
	entry := le.Uint64(b[0x18:])
	if entry < offset {
		return fmt.Errorf("entry %#x below %#x", entry, offset)
	}
	inLoad := false
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if p.Vaddr < offset {
			return fmt.Errorf("segment %d at %#x below %#x", i, p.Vaddr, offset)
		}
		at := phoff + uint64(i)*phentsize + 24 // p_paddr
		if at+8 > uint64(len(b)) {
			return fmt.Errorf("program header %d outside the file", i)
		}
		le.PutUint64(b[at:], p.Vaddr-offset)
		if entry >= p.Vaddr && entry < p.Vaddr+p.Memsz {
			inLoad = true
		}
	}
	if !inLoad {
		return fmt.Errorf("entry %#x is in no loadable segment", entry)
	}
	le.PutUint64(b[0x18:], entry-offset)
	return nil
}
