package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRun: httpget outside armos (the system's sockets): the body on
// standard output, -v's status line, -n's rate line, errors and usage.
func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "body of "+r.URL.Path)
	}))
	defer srv.Close()
	var out, errs bytes.Buffer
	assert.Equal(t, 0, run([]string{"-v", srv.URL + "/page"}, &out, &errs))
	assert.Equal(t, "body of /page", out.String())
	assert.Contains(t, errs.String(), "HTTP/1.1 200 OK")

	out.Reset()
	errs.Reset()
	assert.Equal(t, 0, run([]string{"-n", "5", srv.URL + "/x"}, &out, &errs))
	assert.Equal(t, "body of /x", out.String(), "the body once")
	assert.Contains(t, errs.String(), "5 requests, 50 bytes")

	out.Reset()
	assert.Equal(t, 0, run([]string{"-q", srv.URL + "/abc"}, &out, &errs))
	assert.Equal(t, "httpget: 12 bytes sha256 "+fmt.Sprintf("%x", sha256.Sum256([]byte("body of /abc")))+"\n", out.String())

	errs.Reset()
	assert.Equal(t, 1, run([]string{srv.URL + "/missing"}, &out, &errs))
	assert.Contains(t, errs.String(), "404 Not Found")
	assert.Equal(t, 1, run([]string{"http://127.0.0.1:1/"}, &out, &errs))
	assert.Equal(t, 2, run([]string{}, &out, &errs))
	assert.Equal(t, 2, run([]string{"-n", "0", srv.URL}, &out, &errs))
}
