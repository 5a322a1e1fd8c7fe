package dns

import "encoding/binary"

// Pack returns m in wire form, names compressed.
func (m *Message) Pack() ([]byte, error) { return m.AppendPack(nil) }

// AppendPack appends m in wire form to b (the message starts at len(b), so
// b may hold a TCP length prefix). Owner and question names, and the names
// in the data of RFC 1035's types, are compressed against earlier names of
// the same case; the data of other types is written as it is. On error b
// is returned unchanged.
func (m *Message) AppendPack(b []byte) ([]byte, error) {
	p := packer{b: b, base: len(b)}
	counts := [4]int{len(m.Questions), len(m.Answers), len(m.Authorities), len(m.Additionals)}
	p.b = binary.BigEndian.AppendUint16(p.b, m.ID)
	p.b = binary.BigEndian.AppendUint16(p.b, uint16(m.Flags))
	for _, c := range counts {
		if c > 0xFFFF {
			return b, ErrTooMany
		}
		p.b = binary.BigEndian.AppendUint16(p.b, uint16(c))
	}
	for _, q := range m.Questions {
		if err := p.name(q.Name); err != nil {
			return b, err
		}
		p.b = binary.BigEndian.AppendUint16(p.b, uint16(q.Type))
		p.b = binary.BigEndian.AppendUint16(p.b, uint16(q.Class))
	}
	for _, sec := range [3][]RR{m.Answers, m.Authorities, m.Additionals} {
		for i := range sec {
			if err := p.rr(&sec[i]); err != nil {
				return b, err
			}
		}
	}
	if len(p.b)-p.base > MaxMessageLen {
		return b, ErrMessageTooLong
	}
	return p.b, nil
}

type packer struct {
	b    []byte
	base int            // offset of the message in b
	comp map[string]int // name suffixes (wire form) already written -> offset
}

// name writes n, ending it with a pointer to an earlier copy of its longest
// suffix written before (case-exact), and remembers its suffixes.
func (p *packer) name(n Name) error {
	if n.IsZero() {
		return ErrInvalidName
	}
	w := n.wire
	for i := 0; w[i] != 0; i += 1 + int(w[i]) {
		suffix := w[i:]
		if off, ok := p.comp[suffix]; ok {
			p.b = binary.BigEndian.AppendUint16(p.b, 0xC000|uint16(off))
			return nil
		}
		if off := len(p.b) - p.base; off < 0x4000 {
			if p.comp == nil {
				p.comp = make(map[string]int)
			}
			p.comp[suffix] = off
		}
		p.b = append(p.b, w[i:i+1+int(w[i])]...)
	}
	p.b = append(p.b, 0)
	return nil
}

func (p *packer) rr(rr *RR) error {
	if err := p.name(rr.Name); err != nil {
		return err
	}
	p.b = binary.BigEndian.AppendUint16(p.b, uint16(rr.Type))
	p.b = binary.BigEndian.AppendUint16(p.b, uint16(rr.Class))
	p.b = binary.BigEndian.AppendUint32(p.b, rr.TTL)
	lenAt := len(p.b)
	p.b = append(p.b, 0, 0)
	if compressedTypes[rr.Type] {
		if err := p.rdata(rr.Data, layout(rr.Type)); err != nil {
			return err
		}
	} else {
		p.b = append(p.b, rr.Data...)
	}
	n := len(p.b) - lenAt - 2
	if n > 0xFFFF {
		return ErrRDataTooLong
	}
	binary.BigEndian.PutUint16(p.b[lenAt:], uint16(n))
	return nil
}

// rdata writes data laid out as lay, compressing its names. The data must
// match the layout (names uncompressed), as Parse and the New* functions
// make it.
func (p *packer) rdata(data []byte, lay []int) error {
	off := 0
	for _, f := range lay {
		switch f {
		case fieldName:
			name, next, err := nameAt(data, off)
			if err != nil {
				return ErrBadRData
			}
			if err := p.name(name); err != nil {
				return err
			}
			off = next
		case fieldString:
			if off >= len(data) || off+1+int(data[off]) > len(data) {
				return ErrBadRData
			}
			p.b = append(p.b, data[off:off+1+int(data[off])]...)
			off += 1 + int(data[off])
		default:
			if off+f > len(data) {
				return ErrBadRData
			}
			p.b = append(p.b, data[off:off+f]...)
			off += f
		}
	}
	if off != len(data) {
		return ErrBadRData
	}
	return nil
}

// nameAt reads an uncompressed name at off in b.
func nameAt(b []byte, off int) (Name, int, error) {
	i := off
	for i < len(b) && b[i] != 0 {
		if b[i] > MaxLabelLen {
			return Name{}, 0, ErrBadRData
		}
		i += 1 + int(b[i])
	}
	if i >= len(b) {
		return Name{}, 0, ErrShort
	}
	n, err := NameFromWire(b[off : i+1])
	return n, i + 1, err
}
