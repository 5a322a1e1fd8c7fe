package bootimg

import (
	"bytes"
	"testing"

	"armos/microkernel/internal/cpio"
	"github.com/stretchr/testify/require"
)

// archive writes a valid newc archive of es with cpio.Writer.
func archive(t testing.TB, crc bool, es ...cpio.Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	w.CRC = crc
	for _, e := range es {
		require.NoError(t, w.Write(e))
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func file(name string, perm uint32, data string) cpio.Entry {
	return cpio.Entry{Name: name, Mode: cpio.ModeRegular | perm, Data: []byte(data)}
}

func dir(name string, perm uint32) cpio.Entry {
	return cpio.Entry{Name: name, Mode: cpio.ModeDir | perm}
}

// raw assembles archives byte by byte, for malformed ones: each piece is
// padded from the start of the archive as the format says.
type raw struct{ b []byte }

// entry appends a header h (NameSize and FileSize as given, not derived),
// then name verbatim (the caller adds the NUL), padding, data, padding.
func (r *raw) entry(h cpio.Header, name string, data []byte) *raw {
	r.b = h.Append(r.b)
	r.b = append(r.b, name...)
	r.pad()
	r.b = append(r.b, data...)
	r.pad()
	return r
}

// file appends a well-formed regular file entry.
func (r *raw) file(name, data string) *raw {
	return r.entry(cpio.Header{Mode: cpio.ModeRegular | 0o644, NLink: 1, FileSize: uint32(len(data)),
		NameSize: uint32(len(name) + 1)}, name+"\x00", []byte(data))
}

// trailer appends the TRAILER!!! entry.
func (r *raw) trailer() *raw {
	return r.entry(cpio.Header{NLink: 1, NameSize: uint32(len(cpio.Trailer) + 1)}, cpio.Trailer+"\x00", nil)
}

func (r *raw) pad() {
	for len(r.b)%4 != 0 {
		r.b = append(r.b, 0)
	}
}

// parseBytes parses img through a reader that fails the test on any read
// outside the image, and counts the reads.
func parseBytes(t testing.TB, img []byte) (*Index, int, error) {
	t.Helper()
	reads := 0
	read := SliceReader(img)
	ix, err := Parse(uint64(len(img)), func(off uint64, dst []byte) error {
		reads++
		if off > uint64(len(img)) || uint64(len(dst)) > uint64(len(img))-off {
			t.Fatalf("read of %d bytes at %#x outside the %d-byte image", len(dst), off, len(img))
		}
		return read(off, dst)
	})
	return ix, reads, err
}
