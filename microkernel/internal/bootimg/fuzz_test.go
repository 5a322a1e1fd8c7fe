package bootimg

import (
	"bytes"
	"strings"
	"testing"

	"armos/microkernel/internal/cpio"
	"github.com/stretchr/testify/require"
)

// FuzzParse: Parse never panics and never reads outside the image; an
// index it returns is consistent (sorted unique paths, parents are
// directories listing their children, data inside the image, limits
// kept); and writing its entries back out with cpio.Writer gives an
// archive that parses to the same index.
func FuzzParse(f *testing.F) {
	f.Add(sample(f))
	f.Add(archive(f, true, dir(".", 0o700), file("init", 0o755, "\x7fELF"), file("a/b/c", 0o644, "abc")))
	f.Add(new(raw).file("x", "1").trailer().b)
	f.Add([]byte(cpio.Magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, img []byte) {
		ix, _, err := parseBytes(t, img)
		if err != nil {
			var pe *Error
			require.ErrorAs(t, err, &pe)
			require.NotEmpty(t, err.Error())
			return
		}
		checkIndex(t, ix)
		require.LessOrEqual(t, ix.End(), uint64(len(img)))
		for _, e := range ix.Entries() {
			require.LessOrEqual(t, e.DataOff+e.Size, uint64(len(img)), e.Path)
		}

		// Round trip: write the nodes back out in path order.
		var buf bytes.Buffer
		w := cpio.NewWriter(&buf)
		for _, e := range ix.Entries()[1:] {
			require.NoError(t, w.Write(cpio.Entry{Name: strings.TrimPrefix(e.Path, "/"), Mode: e.Mode,
				UID: e.UID, GID: e.GID, NLink: e.NLink, MTime: e.MTime, RDevMajor: e.RDevMajor,
				RDevMinor: e.RDevMinor, Data: img[e.DataOff : e.DataOff+e.Size]}))
		}
		require.NoError(t, w.Close())
		out := buf.Bytes()
		again, _, err := parseBytes(t, out)
		require.NoError(t, err)
		require.Equal(t, ix.Len(), again.Len())
		for i, e := range ix.Entries() {
			a := again.Entries()[i]
			require.Equal(t, e.Path, a.Path)
			require.Equal(t, e.Ino, a.Ino)
			require.Equal(t, e.Size, a.Size)
			if i > 0 {
				require.Equal(t, e.Mode, a.Mode, e.Path)
			}
			require.Equal(t, img[e.DataOff:e.DataOff+e.Size], out[a.DataOff:a.DataOff+a.Size], e.Path)
		}
	})
}

// checkIndex verifies an Index's invariants.
func checkIndex(t *testing.T, ix *Index) {
	es := ix.Entries()
	require.LessOrEqual(t, len(es), MaxEntries)
	require.Equal(t, "/", es[0].Path)
	require.True(t, es[0].IsDir())
	children := 0
	for i := range es {
		e := &es[i]
		require.Equal(t, uint64(i+1), e.Ino)
		if i > 0 {
			require.Less(t, es[i-1].Path, e.Path, "sorted and unique")
		}
		got, ok := ix.Lookup(e.Path)
		require.True(t, ok, e.Path)
		require.Same(t, e, got)
		if e.IsDir() {
			kids, err := ix.ReadDir(e.Path)
			require.NoError(t, err)
			for j, k := range kids {
				require.Same(t, e, ix.Parent(k))
				if j > 0 {
					require.Less(t, kids[j-1].Name(), k.Name())
				}
			}
			children += len(kids)
		} else {
			require.False(t, e.Implied)
		}
		if i > 0 {
			require.True(t, ix.Parent(e).IsDir(), e.Path)
		}
	}
	require.Equal(t, len(es)-1, children, "every node but the root has one parent")
}
