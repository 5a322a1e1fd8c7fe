package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRequest(t *testing.T) {
	r, err := parseRequest([]byte("exit"))
	require.NoError(t, err)
	assert.True(t, r.exit)
	r, err = parseRequest([]byte("nslookup  -timeout 2m host.test\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"-timeout", "2m", "host.test"}, r.nslookup)
	r, err = parseRequest([]byte("nslookup"))
	require.NoError(t, err, "nslookup's usage error is its own")
	assert.Empty(t, r.nslookup)
	for _, bad := range []string{"", "exit ", "run /bin/x", "stop", "nslookup" + strings.Repeat(" a", maxArgs+1),
		"nslookup " + strings.Repeat("x", maxRequest)} {
		_, err := parseRequest([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

func TestAnswer(t *testing.T) {
	assert.Equal(t, "status 1\nno\n", string(answer(1, []byte("no\n"))))
	out := string(answer(0, make([]byte, maxOutput+1)))
	assert.True(t, strings.HasPrefix(out, "status 0 (output cut)\n"), out[:30])
	assert.Len(t, out, len("status 0 (output cut)\n")+maxOutput)
}

// FuzzParseRequest: nothing panics; what parses is exit or nslookup with
// at most maxArgs arguments, none empty.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"exit", "nslookup host.test", "nslookup", "nslookup  -x\t\ty", "\x00nslookup /"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		if r.exit {
			require.Equal(t, "exit", string(b))
			return
		}
		require.LessOrEqual(t, len(b), maxRequest)
		require.LessOrEqual(t, len(r.nslookup), maxArgs)
		for _, w := range r.nslookup {
			require.NotEmpty(t, w)
			require.NotContains(t, w, " ")
		}
	})
}
