package linuxref

import (
	"errors"
	"fmt"
	"strconv"
)

// MaxCPIOEntries bounds how many entries ReadCPIO accepts, so a hostile
// archive cannot make it allocate without limit.
const MaxCPIOEntries = 1 << 16

// ErrCPIOTruncated is returned when an archive ends inside an entry or
// before its trailer.
var ErrCPIOTruncated = errors.New("cpio: archive truncated")

// ReadCPIO parses a whole newc archive and returns its entries (without
// the trailer) and the number of bytes up to the end of the trailer. Data
// slices alias b. It never panics on malformed input; it returns an error
// naming the offset of the bad entry.
func ReadCPIO(b []byte) ([]Entry, int, error) {
	var out []Entry
	off := 0
	for {
		if len(out) >= MaxCPIOEntries {
			return nil, 0, fmt.Errorf("cpio: more than %d entries", MaxCPIOEntries)
		}
		e, next, err := readEntry(b, off)
		if err != nil {
			return nil, 0, err
		}
		if e.Name == cpioTrailer {
			return out, next, nil
		}
		out = append(out, e)
		off = next
	}
}

// readEntry parses the entry at off and returns it and the offset after it.
func readEntry(b []byte, off int) (Entry, int, error) {
	if len(b)-off < cpioHeaderLen {
		return Entry{}, 0, fmt.Errorf("%w: header at offset %d", ErrCPIOTruncated, off)
	}
	h := b[off : off+cpioHeaderLen]
	if string(h[:6]) != cpioMagic {
		return Entry{}, 0, fmt.Errorf("cpio: bad magic %q at offset %d", h[:6], off)
	}
	var f [cpioFieldCount]uint32
	for i := range f {
		s := string(h[6+8*i : 14+8*i])
		v, err := strconv.ParseUint(s, 16, 32)
		if err != nil {
			return Entry{}, 0, fmt.Errorf("cpio: bad header field %d %q at offset %d", i, s, off)
		}
		f[i] = uint32(v)
	}
	size, namesize := int(f[6]), int(f[11])
	if namesize < 2 || namesize > MaxCPIOName {
		return Entry{}, 0, fmt.Errorf("cpio: bad name size %d at offset %d", namesize, off)
	}
	nameStart := off + cpioHeaderLen
	if len(b)-nameStart < namesize {
		return Entry{}, 0, fmt.Errorf("%w: name at offset %d", ErrCPIOTruncated, off)
	}
	if b[nameStart+namesize-1] != 0 {
		return Entry{}, 0, fmt.Errorf("cpio: name not NUL-terminated at offset %d", off)
	}
	name := string(b[nameStart : nameStart+namesize-1])
	dataStart := nameStart + namesize
	dataStart += pad4(dataStart)
	if dataStart > len(b) || len(b)-dataStart < size {
		return Entry{}, 0, fmt.Errorf("%w: data of %q at offset %d", ErrCPIOTruncated, name, off)
	}
	next := dataStart + size
	next += pad4(next)
	if next > len(b) {
		next = len(b) // the last entry's padding may be missing
	}
	e := Entry{Name: name, Mode: f[1], UID: f[2], GID: f[3], NLink: f[4], MTime: f[5],
		RDevMajor: f[9], RDevMinor: f[10], Data: b[dataStart : dataStart+size]}
	return e, next, nil
}
