package linuxref

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		enc  string
	}{
		{[]string{"/bin/sysbench", "all"}, "/bin/sysbench,all"},
		{[]string{"/bin/sysbench", "null", "-n", "5"}, "/bin/sysbench,null,-n,5"},
		{[]string{"/bin/p", "a b,c", "100%", `"q"`}, "/bin/p,a%20b%2Cc,100%25,%22q%22"},
		{[]string{"/bin/p", "", "x"}, "/bin/p,,x"},
		{[]string{"/bin/p", "tab\there\n", "é"}, "/bin/p,tab%09here%0A,%C3%A9"},
		{[]string{"/bin/p", "-run=a=b"}, "/bin/p,-run=a=b"},
	} {
		enc := EncodeArgs(c.args)
		require.Equal(t, c.enc, enc)
		require.Len(t, strings.Fields(enc), 1, "one command line word")
		require.NotContains(t, enc, `"`)
		dec, err := DecodeArgs(enc)
		require.NoError(t, err)
		require.Equal(t, c.args, dec)
	}
}

func TestDecodeArgsRefusesMalformed(t *testing.T) {
	for _, bad := range []string{"", ",all", "/bin/p,%", "/bin/p,%2", "/bin/p,%zz", "/bin/p,%+1", "/bin/p,a%-1"} {
		_, err := DecodeArgs(bad)
		require.Error(t, err, bad)
	}
	args, err := DecodeArgs("/bin/p,%2c%2C")
	require.NoError(t, err)
	require.Equal(t, []string{"/bin/p", ",,"}, args, "lower-case hex decodes too")
}

// FuzzArgsRoundTrip: any command with a program path encodes to one
// command line word that decodes back to it; decoding never panics.
func FuzzArgsRoundTrip(f *testing.F) {
	f.Add("/bin/sysbench\x00all\x00-n\x005")
	f.Add("/bin/p\x00a b,c%\"\x00")
	f.Add("/x\x00\xff\x01 ")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = DecodeArgs(s)
		args := strings.Split(s, "\x00")
		if args[0] == "" {
			return
		}
		enc := EncodeArgs(args)
		require.Len(t, strings.Fields(enc), 1)
		dec, err := DecodeArgs(enc)
		require.NoError(t, err)
		require.Equal(t, args, dec)
	})
}

// writes records each Write as one element.
type writes struct{ got []string }

func (w *writes) Write(p []byte) (int, error) {
	w.got = append(w.got, string(p))
	return len(p), nil
}

func TestLineWriterPrefixesWholeLines(t *testing.T) {
	w := &writes{}
	lw := &LineWriter{W: w, Prefix: "sysbench: "}
	for _, s := range []string{"sysbench: null 1", "0 ops\nsecond\n", "", "\nthird\nun", "finished"} {
		n, err := lw.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	require.Equal(t, []string{"sysbench: sysbench: null 10 ops\n", "sysbench: second\n", "sysbench: \n", "sysbench: third\n"}, w.got,
		"each complete line is one write, the partial one waits")
	require.NoError(t, lw.Close())
	require.Equal(t, "sysbench: unfinished\n", w.got[len(w.got)-1], "Close ends the last line")
	require.NoError(t, lw.Close())
	require.Len(t, w.got, 5, "nothing left for a second Close")
}

type goneConsole struct{}

func (goneConsole) Write([]byte) (int, error) { return 0, errors.New("console gone") }

func TestLineWriterReportsErrors(t *testing.T) {
	lw := &LineWriter{W: goneConsole{}, Prefix: "p: "}
	_, err := lw.Write([]byte("a\n"))
	require.ErrorContains(t, err, "console gone")
	var buf bytes.Buffer
	lw = &LineWriter{W: &buf}
	_, err = lw.Write([]byte("no prefix\n"))
	require.NoError(t, err)
	require.Equal(t, "no prefix\n", buf.String())
}

func TestExitLines(t *testing.T) {
	exited := Exit{Name: "sysbench", Pid: 42, Status: 3}
	killed := Exit{Name: "memhog", Pid: 43, Status: 137, Signal: 9}
	require.Equal(t, "linuxref: process sysbench (pid 42) exited with status 3", exited.String())
	require.Equal(t, "linuxref: process memhog (pid 43) killed by signal 9 (status 137)", killed.String())
	out := "sysbench: sysbench: null 1 ops 2 ns 2.0 ns/op\r\n" + exited.String() + "\r\n" + killed.String() + "\nlinuxref: power off\n"
	require.Equal(t, []Exit{exited, killed}, ParseExits(out))
	require.Empty(t, ParseExits("linuxref: ready in 1.0 ms\n"))
}
