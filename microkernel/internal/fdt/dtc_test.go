package fdt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMatchesDtc renders each parsed fixture in dtc's DTS syntax and
// compares it with what `dtc -I dtb -O dts` printed for the same blob
// (testdata/*.dts): every node, property and value must agree.
func TestMatchesDtc(t *testing.T) {
	for _, name := range []string{"virt", "virt-net", "virt-gicv3", "virt-el2", "virt-128m", "virt-smp4"} {
		t.Run(name, func(t *testing.T) {
			tr, err := Parse(fixture(t, name))
			require.NoError(t, err)
			want, err := os.ReadFile(filepath.Join("testdata", name+".dts"))
			require.NoError(t, err)
			var b strings.Builder
			b.WriteString("/dts-v1/;\n\n")
			renderNode(&b, tr.Root, 0)
			require.Equal(t, string(want), b.String())
		})
	}
}

func renderNode(b *strings.Builder, n *Node, depth int) {
	ind := strings.Repeat("\t", depth)
	name := n.Name
	if n.Parent == nil {
		name = "/"
	}
	fmt.Fprintf(b, "%s%s {\n", ind, name)
	for _, p := range n.Props {
		fmt.Fprintf(b, "%s\t%s%s;\n", ind, p.Name, renderValue(p.Value))
	}
	for _, c := range n.Children {
		b.WriteString("\n")
		renderNode(b, c, depth+1)
	}
	fmt.Fprintf(b, "%s};\n", ind)
}

// renderValue follows dtc's choice of notation: strings when the value is
// NUL-terminated printable text without empty strings, cells when it is a
// multiple of 4 bytes, bytes otherwise.
func renderValue(v []byte) string {
	switch {
	case len(v) == 0:
		return ""
	case isStringList(v):
		return ` = "` + strings.ReplaceAll(string(v[:len(v)-1]), "\x00", `\0`) + `"`
	case len(v)%4 == 0:
		var cells []string
		for i := 0; i < len(v); i += 4 {
			cells = append(cells, fmt.Sprintf("0x%02x", uint32(v[i])<<24|uint32(v[i+1])<<16|uint32(v[i+2])<<8|uint32(v[i+3])))
		}
		return " = <" + strings.Join(cells, " ") + ">"
	default:
		var bs []string
		for _, c := range v {
			bs = append(bs, fmt.Sprintf("%02x", c))
		}
		return " = [" + strings.Join(bs, " ") + "]"
	}
}

func isStringList(v []byte) bool {
	if v[len(v)-1] != 0 || v[0] == 0 || bytes.Contains(v, []byte{0, 0}) {
		return false
	}
	for _, c := range v[:len(v)-1] {
		if c != 0 && (c < 0x20 || c > 0x7e) {
			return false
		}
	}
	return true
}
