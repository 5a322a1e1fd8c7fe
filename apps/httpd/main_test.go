package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHandlers: the pages httpd serves, outside armos (no init).
func TestHandlers(t *testing.T) {
	srv := httptest.NewServer(newMux(nil))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get("/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "not on armos")
	code, body = get("/health")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
	code, body = get("/bytes?n=100000")
	assert.Equal(t, http.StatusOK, code)
	require.Len(t, body, 100000)
	assert.Equal(t, byte(1), body[1])
	for _, bad := range []string{"", "-1", "x", "2000000000"} {
		code, _ = get("/bytes?n=" + bad)
		assert.Equal(t, http.StatusBadRequest, code, bad)
	}
	code, _ = get("/nothing")
	assert.Equal(t, http.StatusNotFound, code)
	resp, err := http.Post(srv.URL+"/echo", "text/plain", strings.NewReader("echo me"))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "echo me", string(b))
}
