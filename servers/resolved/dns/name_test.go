package dns

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseName(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 3 labels of 63 and one of 61: 4*64 - 2 + 1 = 255 bytes in wire form.
	name255 := label63 + "." + label63 + "." + label63 + "." + strings.Repeat("b", 61)
	for _, tc := range []struct {
		in   string
		wire string
		err  error
	}{
		{"", "\x00", nil},
		{".", "\x00", nil},
		{"x.test", "\x01x\x04test\x00", nil},
		{"x.test.", "\x01x\x04test\x00", nil},
		{"HeLLo.X.test", "\x05HeLLo\x01X\x04test\x00", nil},
		{`a\.b.c`, "\x03a.b\x01c\x00", nil},
		{`a\\b`, "\x03a\\b\x00", nil},
		{`\000\255`, "\x02\x00\xff\x00", nil},
		{label63, "\x3f" + label63 + "\x00", nil},
		{name255, "", nil},
		{label63 + "a", "", ErrLabelTooLong},
		{name255 + "b", "", ErrNameTooLong},
		{name255 + ".c", "", ErrNameTooLong},
		{"a..b", "", ErrEmptyLabel},
		{".a", "", ErrEmptyLabel},
		{"a..", "", ErrEmptyLabel},
		{`a\`, "", ErrBadEscape},
		{`a\25`, "", ErrBadEscape},
		{`a\256`, "", ErrBadEscape},
		{`a\2x5`, "", ErrBadEscape},
	} {
		n, err := ParseName(tc.in)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		if tc.wire != "" {
			require.Equal(t, tc.wire, n.Wire(), tc.in)
		}
		require.LessOrEqual(t, n.Len(), MaxNameLen)
		back, err := ParseName(n.String())
		require.NoError(t, err)
		require.Equal(t, n, back, "String round trip of %q (%q)", tc.in, n.String())
	}
	require.Equal(t, MaxNameLen, MustParseName(name255).Len())
}

func TestNameString(t *testing.T) {
	require.Equal(t, ".", Root.String())
	require.Equal(t, "x.test.", MustParseName("x.test").String())
	require.Equal(t, `a\.b.\\.\032\127.`, MustParseName(`a\.b.\\.\032\127`).String())
	require.Equal(t, "<invalid>", Name{}.String())
}

func TestNameFold(t *testing.T) {
	a, b := MustParseName("WwW.Example.TEST"), MustParseName("www.example.test")
	require.NotEqual(t, a, b)
	require.True(t, a.EqualFold(b))
	require.Equal(t, b, a.Lower())
	require.False(t, a.EqualFold(MustParseName("www.example.tesu")))
	require.False(t, a.EqualFold(MustParseName("www.example")))
	require.Equal(t, 3, a.Labels())
	require.Equal(t, 0, Root.Labels())

	// MixCase changes only letters' case, by the bits given.
	n := MustParseName("abc-1.xyz")
	require.Equal(t, "ABC-1.XYZ.", n.MixCase(func() uint64 { return ^uint64(0) }).String())
	require.Equal(t, "abc-1.xyz.", n.MixCase(func() uint64 { return 0 }).String())
	require.Equal(t, "aBc-1.XyZ.", n.MixCase(func() uint64 { return 0b101010 }).String())
	m := MustParseName(strings.Repeat("a", 63) + "." + strings.Repeat("b", 63))
	calls := 0
	mixed := m.MixCase(func() uint64 { calls++; return 1 })
	require.Equal(t, 2, calls, "one draw per 64 letters")
	require.True(t, mixed.EqualFold(m))
}

func TestNameFromWire(t *testing.T) {
	n, err := NameFromWire([]byte("\x01x\x04test\x00"))
	require.NoError(t, err)
	require.Equal(t, MustParseName("x.test"), n)
	for _, tc := range []struct {
		in  string
		err error
	}{
		{"", ErrShort},
		{"\x01x", ErrShort},
		{"\x01x\x00\x00", ErrBadRData},
		{"\x40" + strings.Repeat("a", 64) + "\x00", ErrLabelTooLong},
		{strings.Repeat("\x01a", 128) + "\x00", ErrNameTooLong},
	} {
		_, err := NameFromWire([]byte(tc.in))
		require.ErrorIs(t, err, tc.err, "%q", tc.in)
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"", ".", "x.test", `a\.b`, `\000\255.x`, "a..b", strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			return
		}
		require.LessOrEqual(t, n.Len(), MaxNameLen)
		w, err := NameFromWire([]byte(n.Wire()))
		require.NoError(t, err)
		require.Equal(t, n, w)
		back, err := ParseName(n.String())
		require.NoError(t, err)
		require.Equal(t, n, back)
		require.True(t, n.Lower().EqualFold(n))
	})
}
