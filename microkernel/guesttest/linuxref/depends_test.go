package linuxref

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseDepends(t *testing.T) {
	require.Equal(t, [][]Dep{{{Name: "linux-image-6.1.0-56-cloud-arm64", Relation: "=", Version: "6.1.192-2"}}},
		ParseDepends("linux-image-6.1.0-56-cloud-arm64 (= 6.1.192-2)\n"))

	got := ParseDepends("kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, python3:any, foo [arm64] <!nocheck>")
	require.Equal(t, [][]Dep{
		{{Name: "kmod"}},
		{{Name: "linux-base", Relation: ">=", Version: "4.3~"}},
		{{Name: "initramfs-tools", Relation: ">=", Version: "0.120+deb8u2"}, {Name: "linux-initramfs-tool"}},
		{{Name: "python3", Arch: "any"}},
		{{Name: "foo"}},
	}, got)

	require.Empty(t, ParseDepends(""))
	require.Empty(t, ParseDepends(" , | ,"))
	require.Equal(t, [][]Dep{{{Name: "a"}}}, ParseDepends("a (= )"), "a broken relation keeps the name")
	require.Equal(t, [][]Dep{{{Name: "a"}}}, ParseDepends("a (>= 1"), "an unclosed relation keeps the name")
}

func TestKernelDependency(t *testing.T) {
	d, err := kernelDependency(ParseDepends("kmod, linux-image-6.1.0-56-cloud-arm64 (= 6.1.192-2)"))
	require.NoError(t, err)
	require.Equal(t, "linux-image-6.1.0-56-cloud-arm64 (= 6.1.192-2)", d.String())
	_, err = kernelDependency(ParseDepends("kmod, busybox"))
	require.ErrorContains(t, err, "no linux-image-")
}

// FuzzParseDepends: never panics, names are non-empty words, and formatting
// the result and parsing it again gives the same relations.
func FuzzParseDepends(f *testing.F) {
	f.Add("linux-image-6.1.0-56-cloud-arm64 (= 6.1.192-2)")
	f.Add("kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool")
	f.Add("python3:any (<< 3.12), foo [arm64]")
	f.Fuzz(func(t *testing.T, s string) {
		groups := ParseDepends(s)
		var parts []string
		for _, g := range groups {
			require.NotEmpty(t, g)
			var alts []string
			for _, d := range g {
				require.NotEmpty(t, d.Name)
				require.False(t, strings.ContainsAny(d.Name, " ,|()[]<>"), "name %q", d.Name)
				require.Equal(t, d.Relation == "", d.Version == "")
				alts = append(alts, d.String())
			}
			parts = append(parts, strings.Join(alts, " | "))
		}
		require.Equal(t, groups, ParseDepends(strings.Join(parts, ", ")))
	})
}
