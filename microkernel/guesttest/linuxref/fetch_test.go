package linuxref

import (
	"os"
	"path/filepath"
	"testing"

	"armos/microkernel/guesttest"
	"github.com/stretchr/testify/require"
)

func TestAptOptionsKeepHostStateAlone(t *testing.T) {
	require.Equal(t, []string{
		"-o", "APT::Architecture=arm64",
		"-o", "APT::Architectures=arm64",
		"-o", "Dir::State::Lists=/c/apt/lists",
		"-o", "Dir::Cache=/c/apt/cache",
		"-o", "Dir::State::status=/dev/null",
		"-o", "APT::Sandbox::User=root",
	}, AptOptions("/c"))
}

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	_, err := Locate(dir)
	require.ErrorIs(t, err, ErrNotFetched)
	require.ErrorContains(t, err, FetchCommand, "the error says how to fetch")

	boot := filepath.Join(dir, "root", "boot")
	require.NoError(t, os.MkdirAll(boot, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(boot, "vmlinuz-6.1.0-9-cloud-arm64"), nil, 0o644))
	_, err = Locate(dir)
	require.ErrorIs(t, err, ErrNotFetched, "a kernel without its modules is not enough")

	mods := filepath.Join(dir, "root", "lib", "modules", "6.1.0-9-cloud-arm64")
	require.NoError(t, os.MkdirAll(mods, 0o755))
	a, err := Locate(dir)
	require.NoError(t, err)
	require.Equal(t, Artifacts{Dir: dir, Kernel: filepath.Join(boot, "vmlinuz-6.1.0-9-cloud-arm64"),
		Release: "6.1.0-9-cloud-arm64", ModulesDir: mods}, a)
}

func TestDefaultDir(t *testing.T) {
	t.Setenv(DirEnv, "/tmp/somewhere")
	d, err := DefaultDir()
	require.NoError(t, err)
	require.Equal(t, "/tmp/somewhere", d)

	t.Setenv(DirEnv, "")
	d, err = DefaultDir()
	require.NoError(t, err)
	root, err := guesttest.ModuleRoot()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "out", "linuxref"), d)
}
