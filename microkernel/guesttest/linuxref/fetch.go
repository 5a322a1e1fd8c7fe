package linuxref

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"armos/microkernel/guesttest"
)

// MetaPackage is the Debian package whose dependency is the current cloud
// kernel for arm64 (vmlinuz, an uncompressed arm64 Image, plus modules).
const MetaPackage = "linux-image-cloud-arm64"

// FetchCommand is what a user runs (as root) to download the kernel.
const FetchCommand = "go run ./microkernel/guesttest/linuxref/cmd/fetch"

// DirEnv overrides the cache directory of the Linux artifacts.
const DirEnv = "LINUXREF_DIR"

// Artifacts are the unpacked pieces of the Debian kernel.
type Artifacts struct {
	Dir        string // the cache directory
	Kernel     string // boot/vmlinuz-<release>
	Release    string // e.g. 6.1.0-56-cloud-arm64
	ModulesDir string // lib/modules/<release>
}

// ErrNotFetched means the cache directory holds no unpacked kernel.
var ErrNotFetched = errors.New("linuxref: Linux kernel not fetched")

// DefaultDir is $LINUXREF_DIR if set, else out/linuxref under the module root.
func DefaultDir() (string, error) {
	if d := os.Getenv(DirEnv); d != "" {
		return filepath.Abs(d)
	}
	root, err := guesttest.ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "out", "linuxref"), nil
}

// Locate finds an unpacked kernel in dir (as left by Fetch). When there is
// none, the error wraps ErrNotFetched and says how to fetch one.
func Locate(dir string) (Artifacts, error) {
	kernels, _ := filepath.Glob(filepath.Join(dir, "root", "boot", "vmlinuz-*"))
	sort.Strings(kernels)
	for i := len(kernels) - 1; i >= 0; i-- {
		rel := strings.TrimPrefix(filepath.Base(kernels[i]), "vmlinuz-")
		mods := filepath.Join(dir, "root", "lib", "modules", rel)
		if st, err := os.Stat(mods); err == nil && st.IsDir() {
			return Artifacts{Dir: dir, Kernel: kernels[i], Release: rel, ModulesDir: mods}, nil
		}
	}
	return Artifacts{}, fmt.Errorf("%w in %s: fetch it as root with `%s -dir %s` (needs apt-get and dpkg, and Debian's mirror reachable)",
		ErrNotFetched, dir, FetchCommand, dir)
}

// AptOptions are the apt-get options that make apt work on arm64 package
// lists in dir alone: the host's dpkg status and architectures are not
// read or changed.
func AptOptions(dir string) []string {
	apt := filepath.Join(dir, "apt")
	return []string{
		"-o", "APT::Architecture=arm64",
		"-o", "APT::Architectures=arm64",
		"-o", "Dir::State::Lists=" + filepath.Join(apt, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(apt, "cache"),
		"-o", "Dir::State::status=/dev/null",
		// Downloads land in dirs _apt cannot write; do them as the caller.
		"-o", "APT::Sandbox::User=root",
	}
}

// Fetch downloads and unpacks the Debian cloud kernel into dir, unless
// Locate already finds one there. Progress and tool output go to log.
// It needs root, apt-get, dpkg and Debian's mirror.
func Fetch(ctx context.Context, dir string, log io.Writer) (Artifacts, error) {
	if a, err := Locate(dir); err == nil {
		fmt.Fprintf(log, "linuxref: using %s\n", a.Kernel)
		return a, nil
	}
	apt := filepath.Join(dir, "apt")
	debs := filepath.Join(dir, "debs")
	for _, d := range []string{filepath.Join(apt, "lists", "partial"),
		filepath.Join(apt, "cache", "archives", "partial"), debs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Artifacts{}, err
		}
	}
	run := func(cwd string, name string, args ...string) ([]byte, error) {
		fmt.Fprintf(log, "linuxref: %s %s\n", name, strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = cwd
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stderr = log
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
		}
		return out, nil
	}
	opts := AptOptions(dir)
	if _, err := run(dir, "apt-get", append(opts, "-q", "update")...); err != nil {
		return Artifacts{}, err
	}
	if _, err := run(debs, "apt-get", append(opts, "-q", "download", MetaPackage)...); err != nil {
		return Artifacts{}, err
	}
	meta, err := newestDeb(debs, MetaPackage)
	if err != nil {
		return Artifacts{}, err
	}
	field, err := run(debs, "dpkg", "-f", meta, "Depends")
	if err != nil {
		return Artifacts{}, err
	}
	img, err := kernelDependency(ParseDepends(string(field)))
	if err != nil {
		return Artifacts{}, fmt.Errorf("%s: %w", meta, err)
	}
	spec := img.Name
	if img.Relation == "=" {
		spec += "=" + img.Version
	}
	if _, err := run(debs, "apt-get", append(opts, "-q", "download", spec)...); err != nil {
		return Artifacts{}, err
	}
	imgDeb, err := newestDeb(debs, img.Name)
	if err != nil {
		return Artifacts{}, err
	}
	// Unpack into a staging directory, then rename, so that an interrupted
	// fetch never looks complete to Locate.
	stage := filepath.Join(dir, "root.partial")
	if err := os.RemoveAll(stage); err != nil {
		return Artifacts{}, err
	}
	for _, deb := range []string{meta, imgDeb} {
		if _, err := run(debs, "dpkg", "-x", deb, stage); err != nil {
			return Artifacts{}, err
		}
	}
	root := filepath.Join(dir, "root")
	if err := os.RemoveAll(root); err != nil {
		return Artifacts{}, err
	}
	if err := os.Rename(stage, root); err != nil {
		return Artifacts{}, err
	}
	a, err := Locate(dir)
	if err == nil {
		fmt.Fprintf(log, "linuxref: kernel %s, modules %s\n", a.Kernel, a.ModulesDir)
	}
	return a, err
}

// newestDeb returns the last (by name) downloaded .deb of pkg in dir.
func newestDeb(dir, pkg string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) == 0 {
		return "", fmt.Errorf("linuxref: apt-get download left no %s_*.deb in %s", pkg, dir)
	}
	sort.Strings(m)
	return m[len(m)-1], nil
}

// kernelDependency picks the kernel image package among the dependencies
// of the meta package.
func kernelDependency(groups [][]Dep) (Dep, error) {
	for _, g := range groups {
		for _, d := range g {
			if strings.HasPrefix(d.Name, "linux-image-") {
				return d, nil
			}
		}
	}
	return Dep{}, errors.New("no linux-image-* dependency")
}
