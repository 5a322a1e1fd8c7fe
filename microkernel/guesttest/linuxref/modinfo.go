package linuxref

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// NetModules are the modules that give the Debian cloud kernel a
// virtio-mmio network interface (virtio, virtio_ring, virtio_mmio and
// virtio_net are modules there, not built in). LoadOrder adds whatever
// they depend on.
var NetModules = []string{"virtio_mmio", "virtio_net"}

// MaxModuleDepth bounds dependency chains in LoadOrder (a cycle is an error).
const MaxModuleDepth = 32

// ParseModinfo parses the contents of a module's .modinfo section: a
// sequence of NUL-terminated "key=value" strings. Keys may repeat (alias,
// parm); the values of a key are returned in order. Strings without "="
// and empty strings are skipped.
func ParseModinfo(sec []byte) map[string][]string {
	info := map[string][]string{}
	for _, s := range bytes.Split(sec, []byte{0}) {
		k, v, ok := bytes.Cut(s, []byte{'='})
		if !ok || len(k) == 0 {
			continue
		}
		info[string(k)] = append(info[string(k)], string(v))
	}
	return info
}

// ModuleInfo reads the .modinfo section of the kernel module (an ELF
// relocatable object) at path.
func ModuleInfo(path string) (map[string][]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: .modinfo: %w", path, err)
	}
	return ParseModinfo(data), nil
}

// Depends returns the module names a modinfo map lists under "depends".
func Depends(info map[string][]string) []string {
	var deps []string
	for _, v := range info["depends"] {
		for _, d := range strings.Split(v, ",") {
			if d = strings.TrimSpace(d); d != "" {
				deps = append(deps, d)
			}
		}
	}
	return deps
}

// moduleName is the name the kernel knows a module file by: the base name
// without ".ko", with "-" read as "_".
func moduleName(file string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(file), ".ko"), "-", "_")
}

// IndexModules maps module names to the paths of the .ko files under dir.
func IndexModules(dir string) (map[string]string, error) {
	idx := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			idx[moduleName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing modules in %s: %w", dir, err)
	}
	return idx, nil
}

// LoadOrder returns the paths of the wanted modules and everything they
// depend on, each after its dependencies. Names not found in the index are
// an error unless builtin lists them (modules.builtin of the kernel).
func LoadOrder(index map[string]string, builtin map[string]bool, wanted []string,
	deps func(path string) ([]string, error)) ([]string, error) {
	var order []string
	state := map[string]int{} // 0 unseen, 1 visiting, 2 done
	var visit func(name string, depth int) error
	visit = func(name string, depth int) error {
		name = strings.ReplaceAll(name, "-", "_")
		switch {
		case state[name] == 2:
			return nil
		case state[name] == 1 || depth > MaxModuleDepth:
			return fmt.Errorf("module dependency cycle through %s", name)
		}
		p, ok := index[name]
		if !ok {
			if builtin[name] {
				state[name] = 2
				return nil
			}
			return fmt.Errorf("module %s not found", name)
		}
		state[name] = 1
		ds, err := deps(p)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := visit(d, depth+1); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, p)
		return nil
	}
	for _, w := range wanted {
		if err := visit(w, 0); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ReadBuiltin reads a modules.builtin file (one "kernel/.../name.ko" per
// line) into a set of module names. A missing file is an empty set.
func ReadBuiltin(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			set[moduleName(l)] = true
		}
	}
	return set, nil
}

// FileDepends reads the "depends" list of the module file at path.
func FileDepends(path string) ([]string, error) {
	info, err := ModuleInfo(path)
	if err != nil {
		return nil, err
	}
	return Depends(info), nil
}
