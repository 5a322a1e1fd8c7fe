// Command httpget fetches a URL with Go's own net/http client and writes
// the body to standard output, as `curl -sS URL` does:
//
//	httpget [-v] [-q] [-o FILE] [-timeout 30s] [-n N] URL
//
// On armos its connections are armos TCP (libsocket's DialContext: tcpd
// through netd) and host names are resolved by resolved; net/http itself
// is unchanged. Started anywhere else (a Linux host or the Linux reference
// guest) it uses the system's sockets, so the same binary measures both.
//
// -v prints the status line and the headers to standard error; -q prints,
// instead of the body, its size and SHA-256 ("httpget: 1000 bytes sha256
// 4a5b..."); -n fetches
// the URL N times on one keep-alive connection and prints, on standard
// error, the bytes and the time they took (for benchmarks). An HTTP status
// of 400 or more is an error (exit 1), as curl's -f.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"armos/libsocket"
	"armos/libsocket/sockproto"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("httpget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "print the status line and headers on standard error")
	out := fs.String("o", "", "write the body to `FILE` instead of standard output")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	quiet := fs.Bool("q", false, "print the body's size and SHA-256 instead of the body")
	n := fs.Int("n", 1, "fetch the URL this many times (one keep-alive connection) and report the rate")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: httpget [-v] [-q] [-o FILE] [-timeout D] [-n N] URL")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *n < 1 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client, err := newClient(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "httpget:", err)
		return 1
	}
	var w io.Writer = stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, "httpget:", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	sum := sha256.New()
	if *quiet {
		w = sum
	}
	start := time.Now()
	var total int64
	for i := range *n {
		if i > 0 {
			w = io.Discard // the body once; the rest only counted
		}
		k, err := get(ctx, client, fs.Arg(0), w, stderr, *verbose && i == 0)
		total += k
		if err != nil {
			fmt.Fprintln(stderr, "httpget:", err)
			return 1
		}
	}
	if *quiet {
		fmt.Fprintf(stdout, "httpget: %d bytes sha256 %x\n", total/int64(*n), sum.Sum(nil))
	}
	if *n > 1 {
		d := time.Since(start)
		fmt.Fprintf(stderr, "httpget: %d requests, %d bytes in %v: %.1f requests/s, %.2f MB/s\n",
			*n, total, d.Round(time.Microsecond), float64(*n)/d.Seconds(), float64(total)/d.Seconds()/1e6)
	}
	return 0
}

// newClient returns an HTTP client over armos TCP when started by armos's
// init, else over the system's sockets.
func newClient(ctx context.Context) (*http.Client, error) {
	sock, err := libsocket.FromInit(ctx, sockproto.ServiceName)
	if errors.Is(err, libsocket.ErrNoInit) {
		return &http.Client{}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := libsocket.WaitTCP(ctx); err != nil { // started at boot beside tcpd
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{DialContext: sock.DialContext}}, nil
}

// get fetches url once, copying the body to w.
func get(ctx context.Context, c *http.Client, url string, w, stderr io.Writer, verbose bool) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if verbose {
		fmt.Fprintf(stderr, "%s %s\n", resp.Proto, resp.Status)
		resp.Header.Write(stderr)
		fmt.Fprintln(stderr)
	}
	k, err := io.Copy(w, resp.Body)
	if err != nil {
		return k, fmt.Errorf("reading the body of %s: %w", url, err)
	}
	if resp.StatusCode >= 400 {
		return k, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return k, nil
}
