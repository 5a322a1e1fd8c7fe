package fdt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// Tree is a parsed device tree. It is immutable after Parse and safe for
// concurrent readers.
type Tree struct {
	Header Header
	// Reserved lists the memory reservation block entries.
	Reserved []Reservation
	// Root is the root node "/".
	Root *Node

	nodes    []*Node // every node in structure-block order (Root first)
	phandles map[uint32]*Node
}

// Node is one device tree node.
type Node struct {
	// Name is the node name including its unit address ("pl011@9000000");
	// the root's name is "".
	Name     string
	Parent   *Node // nil for the root
	Children []*Node
	Props    []Property
	depth    int
}

// Property is one name/value pair. Value aliases the Tree's private copy of
// the structure block; treat it as read-only.
type Property struct {
	Name  string
	Value []byte
}

// Parse validates blob and builds its tree. blob must hold at least
// Header.TotalSize bytes (extra bytes are ignored). Errors wrap ErrMalformed
// or ErrTooLarge.
func Parse(blob []byte) (*Tree, error) {
	h, err := ReadHeader(blob)
	if err != nil {
		return nil, err
	}
	if uint64(len(blob)) < uint64(h.TotalSize) {
		return nil, malformed("blob of %d bytes is shorter than totalsize %d", len(blob), h.TotalSize)
	}
	res, err := readReservations(blob, h)
	if err != nil {
		return nil, err
	}
	// Private copies: the caller may recycle the DTB's memory.
	structs := bytes.Clone(blob[h.OffDtStruct : h.OffDtStruct+h.SizeDtStruct])
	strs := blob[h.OffDtStrings : h.OffDtStrings+h.SizeDtStrings]
	t := &Tree{Header: h, Reserved: res, phandles: make(map[uint32]*Node)}
	if err := t.walk(structs, strs); err != nil {
		return nil, err
	}
	return t, nil
}

// walk decodes the structure block. Each iteration consumes at least one
// 4-byte token, so the loop ends within len(s)/4 iterations.
func (t *Tree) walk(s, strs []byte) error {
	be := binary.BigEndian
	var cur *Node
	nprops := 0
	off := 0
	for {
		if off+4 > len(s) {
			return malformed("structure block ends without FDT_END")
		}
		tok := be.Uint32(s[off:])
		off += 4
		switch tok {
		case tokenNop:
		case tokenBeginNode:
			end := bytes.IndexByte(s[off:], 0)
			if end < 0 {
				return malformed("unterminated node name at %#x", off)
			}
			name := string(s[off : off+end])
			off = align4(off + end + 1)
			if len(t.nodes) == MaxNodes {
				return fmt.Errorf("%w: more than %d nodes", ErrTooLarge, MaxNodes)
			}
			n := &Node{Name: name, Parent: cur}
			if cur == nil {
				if t.Root != nil {
					return malformed("second root node %q", name)
				}
				if name != "" {
					return malformed("root node has name %q", name)
				}
				t.Root = n
			} else {
				if cur.depth+1 > MaxDepth {
					return fmt.Errorf("%w: nesting deeper than %d", ErrTooLarge, MaxDepth)
				}
				if name == "" || strings.ContainsRune(name, '/') {
					return malformed("invalid node name %q", name)
				}
				n.depth = cur.depth + 1
				cur.Children = append(cur.Children, n)
			}
			t.nodes = append(t.nodes, n)
			cur = n
		case tokenEndNode:
			if cur == nil {
				return malformed("FDT_END_NODE without a node at %#x", off-4)
			}
			cur = cur.Parent
		case tokenProp:
			if cur == nil {
				return malformed("property outside any node at %#x", off-4)
			}
			if off+8 > len(s) {
				return malformed("truncated property header at %#x", off)
			}
			size := uint64(be.Uint32(s[off:]))
			nameoff := be.Uint32(s[off+4:])
			off += 8
			if uint64(off)+size > uint64(len(s)) {
				return malformed("property value of %d bytes at %#x runs past the structure block", size, off)
			}
			name, err := stringAt(strs, nameoff)
			if err != nil {
				return err
			}
			if nprops == MaxProps {
				return fmt.Errorf("%w: more than %d properties", ErrTooLarge, MaxProps)
			}
			nprops++
			val := s[off : off+int(size) : off+int(size)]
			cur.Props = append(cur.Props, Property{Name: name, Value: val})
			off = align4(off + int(size))
			if name == "phandle" || name == "linux,phandle" {
				if len(val) == 4 {
					ph := be.Uint32(val)
					if _, dup := t.phandles[ph]; !dup && ph != 0 && ph != 0xffffffff {
						t.phandles[ph] = cur
					}
				}
			}
		case tokenEnd:
			if cur != nil {
				return malformed("FDT_END inside node %q", cur.Name)
			}
			if t.Root == nil {
				return malformed("no root node")
			}
			return nil
		default:
			return malformed("unknown token %#x at %#x", tok, off-4)
		}
	}
}

func align4(n int) int { return (n + 3) &^ 3 }

// stringAt returns the NUL-terminated string at offset off of the strings block.
func stringAt(strs []byte, off uint32) (string, error) {
	if uint64(off) >= uint64(len(strs)) {
		return "", malformed("property name offset %#x outside the %d-byte strings block", off, len(strs))
	}
	end := bytes.IndexByte(strs[off:], 0)
	if end < 0 {
		return "", malformed("unterminated property name at strings offset %#x", off)
	}
	return string(strs[off : int(off)+end]), nil
}

// Nodes returns every node in structure-block order, root first.
func (t *Tree) Nodes() []*Node { return t.nodes }

// Find returns the node at an absolute path such as "/chosen" or
// "/intc@8000000/v2m@8020000". A path component without a unit address
// ("pl011") matches the first child whose name is "pl011" or starts with
// "pl011@".
func (t *Tree) Find(path string) (*Node, bool) {
	if t == nil || t.Root == nil || !strings.HasPrefix(path, "/") {
		return nil, false
	}
	n := t.Root
	for _, comp := range strings.Split(path[1:], "/") {
		if comp == "" {
			continue
		}
		n = n.Child(comp)
		if n == nil {
			return nil, false
		}
	}
	return n, true
}

// Child returns the first direct child matching name (see Tree.Find for the
// unit-address rule), or nil.
func (n *Node) Child(name string) *Node {
	if n == nil {
		return nil
	}
	exact := strings.ContainsRune(name, '@')
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
		if !exact && strings.HasPrefix(c.Name, name) && len(c.Name) > len(name) && c.Name[len(name)] == '@' {
			return c
		}
	}
	return nil
}

// Path returns the absolute path of n ("/" for the root).
func (n *Node) Path() string {
	if n == nil {
		return ""
	}
	if n.Parent == nil {
		return "/"
	}
	var parts []string
	for p := n; p.Parent != nil; p = p.Parent {
		parts = append(parts, p.Name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// UnitAddress returns the part of the name after '@' ("9000000"), or "".
func (n *Node) UnitAddress() string {
	if i := strings.IndexByte(n.Name, '@'); i >= 0 {
		return n.Name[i+1:]
	}
	return ""
}

// Prop returns the value of the named property.
func (n *Node) Prop(name string) ([]byte, bool) {
	if n == nil {
		return nil, false
	}
	for i := range n.Props {
		if n.Props[i].Name == name {
			return n.Props[i].Value, true
		}
	}
	return nil, false
}

// Has reports whether the node has the named property (useful for empty
// properties such as "interrupt-controller").
func (n *Node) Has(name string) bool {
	_, ok := n.Prop(name)
	return ok
}

// U32 decodes a one-cell property.
func (n *Node) U32(name string) (uint32, error) {
	v, ok := n.Prop(name)
	if !ok {
		return 0, fmt.Errorf("%w: property %q of %s", ErrNotFound, name, n.Path())
	}
	if len(v) != 4 {
		return 0, malformed("property %q of %s has %d bytes, want 4", name, n.Path(), len(v))
	}
	return binary.BigEndian.Uint32(v), nil
}

// String decodes a string property (the first string of a string list).
func (n *Node) String(name string) (string, error) {
	v, ok := n.Prop(name)
	if !ok {
		return "", fmt.Errorf("%w: property %q of %s", ErrNotFound, name, n.Path())
	}
	end := bytes.IndexByte(v, 0)
	if end < 0 {
		return "", malformed("property %q of %s is not NUL-terminated", name, n.Path())
	}
	return string(v[:end]), nil
}

// Strings decodes a string-list property such as "compatible". A missing
// property gives nil. Empty strings inside the list are kept; a value not
// ending in NUL yields an error.
func (n *Node) Strings(name string) ([]string, error) {
	v, ok := n.Prop(name)
	if !ok {
		return nil, nil
	}
	if len(v) == 0 {
		return []string{}, nil
	}
	if v[len(v)-1] != 0 {
		return nil, malformed("string list %q of %s is not NUL-terminated", name, n.Path())
	}
	return strings.Split(string(v[:len(v)-1]), "\x00"), nil
}

// IsCompatible reports whether the node's "compatible" list contains c.
func (n *Node) IsCompatible(c string) bool {
	v, ok := n.Prop("compatible")
	if !ok {
		return false
	}
	for len(v) > 0 {
		end := bytes.IndexByte(v, 0)
		if end < 0 {
			return false // malformed list: only NUL-terminated entries count
		}
		if string(v[:end]) == c {
			return true
		}
		v = v[end+1:]
	}
	return false
}

// FindCompatible returns, in tree order, every node compatible with c.
func (t *Tree) FindCompatible(c string) []*Node {
	var out []*Node
	for _, n := range t.nodes {
		if n.IsCompatible(c) {
			out = append(out, n)
		}
	}
	return out
}

// ByPhandle returns the node whose "phandle" (or legacy "linux,phandle")
// property equals ph. When two nodes claim one phandle the first wins.
func (t *Tree) ByPhandle(ph uint32) (*Node, bool) {
	n, ok := t.phandles[ph]
	return n, ok
}
