package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoSecondFileOnADescriptor: no program wraps a descriptor another
// object owns in a second os.File (os.NewFile(uintptr(x.Fd()), ...)). The
// second File's finalizer closes the number again later, when it may name
// something else: init did this with its children's bootstrap channels
// and, after hundreds of restarts, closed the echo app's. Pass an owned
// file instead (KernelEndpoint.File) or duplicate the descriptor.
func TestNoSecondFileOnADescriptor(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	pattern := regexp.MustCompile(`os\.NewFile\(uintptr\([^()]*\.Fd\(\)\)`)
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "out" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "secondfile_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for _, m := range pattern.FindAll(b, -1) {
			rel, _ := filepath.Rel(root, path)
			assert.Fail(t, "a second os.File on a descriptor someone owns", "%s: %s", rel, m)
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, checked, 100, "the repository's Go files were read")
}
