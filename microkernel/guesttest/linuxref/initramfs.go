package linuxref

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"

	"armos/microkernel/guesttest"
)

// InitPackage is the import path of the guest's /init.
const InitPackage = "./microkernel/guesttest/linuxref/cmd/init"

// guestModuleDir is where the modules sit in the initramfs.
const guestModuleDir = "/lib/modules"

// BuildInit compiles cmd/init as a static linux/arm64 binary at output.
func BuildInit(output string) error {
	root, err := guesttest.ModuleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", output, InitPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", InitPackage, err, b)
	}
	return nil
}

// GuestFile is a host file to pack into the initramfs, e.g. a program for
// OptRun to run.
type GuestFile struct {
	Path string // where it goes in the guest, e.g. "/bin/sysbench"
	Host string // the host file
	Mode uint32 // permission bits; 0 means 0755
}

// Initramfs packs an initramfs (uncompressed newc cpio): /init, a
// /dev/console node for the kernel to open before devtmpfs is mounted,
// the mount points, the given modules (host paths, in load order) under
// /lib/modules and their list in GuestModuleList, and the extra files
// (with any parent directories they need).
func Initramfs(initBinary []byte, modules []string, extra ...GuestFile) ([]byte, error) {
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	for _, d := range []string{"dev", "proc", "sys", "etc/linuxref", guestModuleDir[1:]} {
		if err := w.Dir(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := w.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return nil, err
	}
	var list bytes.Buffer
	for _, m := range modules {
		data, err := os.ReadFile(m)
		if err != nil {
			return nil, err
		}
		p := path.Join(guestModuleDir, filepath.Base(m))
		if err := w.File(p, 0o644, data); err != nil {
			return nil, err
		}
		list.WriteString(p + "\n")
	}
	if err := w.File(GuestModuleList, 0o644, list.Bytes()); err != nil {
		return nil, err
	}
	for _, f := range extra {
		data, err := os.ReadFile(f.Host)
		if err != nil {
			return nil, err
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o755
		}
		if err := w.File(f.Path, mode, data); err != nil {
			return nil, err
		}
	}
	if err := w.File("init", 0o755, initBinary); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NetModuleOrder returns the host paths of NetModules and their
// dependencies under a's modules directory, dependencies first.
func NetModuleOrder(a Artifacts) ([]string, error) {
	idx, err := IndexModules(a.ModulesDir)
	if err != nil {
		return nil, err
	}
	builtin, err := ReadBuiltin(filepath.Join(a.ModulesDir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	return LoadOrder(idx, builtin, NetModules, FileDepends)
}

// Guest is a kernel and initramfs ready to boot.
type Guest struct {
	Kernel string
	Initrd string
	// Modules are the module files packed, in load order (base names).
	Modules []string
}

// Prepare builds /init and the initramfs for a into workDir, with the
// extra files (e.g. programs for OptRun) packed in too.
func Prepare(a Artifacts, workDir string, extra ...GuestFile) (Guest, error) {
	initPath := filepath.Join(workDir, "init")
	if err := BuildInit(initPath); err != nil {
		return Guest{}, err
	}
	initBin, err := os.ReadFile(initPath)
	if err != nil {
		return Guest{}, err
	}
	mods, err := NetModuleOrder(a)
	if err != nil {
		return Guest{}, err
	}
	img, err := Initramfs(initBin, mods, extra...)
	if err != nil {
		return Guest{}, err
	}
	initrd := filepath.Join(workDir, "initramfs.cpio")
	if err := os.WriteFile(initrd, img, 0o644); err != nil {
		return Guest{}, err
	}
	g := Guest{Kernel: a.Kernel, Initrd: initrd}
	for _, m := range mods {
		g.Modules = append(g.Modules, filepath.Base(m))
	}
	return g, nil
}
