// Command httpd is armos's small HTTP server, Go's own net/http serving
// over armos TCP (libsocket's Listen: tcpd through netd):
//
//	httpd [-addr :80]
//
// It serves
//
//	/          the status page: armos's processes (as ps shows them) and
//	           the counters of netd and tcpd (as netstat shows them)
//	/health    "ok"
//	/bytes?n=N N bytes (at most 1 GiB), for throughput measurements
//	/echo      the request's body back (POST)
//
// and prints one line once it listens. Started outside armos (a Linux host,
// the Linux reference guest) it listens on the system's sockets and its
// status page says so, so the same binary is measured on both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"armos/libipc"
	"armos/libsocket"
	"armos/libsocket/adminproto"
	"armos/libsocket/sockproto"
	"armos/libsys"
)

// ReadyPrefix starts the line httpd prints once it listens.
const ReadyPrefix = "httpd: listening on"

// maxBytes bounds /bytes.
const maxBytes = 1 << 30

func main() {
	addr := flag.String("addr", ":80", "the address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "httpd:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var ln net.Listener
	var boot *libipc.InitClient
	sock, err := libsocket.FromInit(ctx, sockproto.ServiceName)
	switch {
	case errors.Is(err, libsocket.ErrNoInit):
		ln, err = net.Listen("tcp", addr)
	case err == nil:
		boot, _ = libipc.Bootstrap()
		ln, err = listenArmos(ctx, sock, addr)
	}
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newMux(boot), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("%s %v\n", ReadyPrefix, ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenArmos listens through tcpd, once tcpd serves.
func listenArmos(ctx context.Context, sock *libsocket.Client, addr string) (net.Listener, error) {
	if err := libsocket.WaitTCP(ctx); err != nil {
		return nil, err
	}
	return sock.Listen(ctx, "tcp", addr)
}

func newMux(boot *libipc.InitClient) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { status(w, r, boot) })
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /bytes", serveBytes)
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// The reply is written while the body is read: without full
		// duplex, Go's HTTP/1 server would discard the unread body at the
		// first write.
		http.NewResponseController(w).EnableFullDuplex()
		w.Header().Set("Content-Type", "application/octet-stream")
		io.Copy(w, r.Body)
	})
	return mux
}

// status writes the status page (plain text).
func status(w http.ResponseWriter, r *http.Request, boot *libipc.InitClient) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if boot == nil {
		fmt.Fprintf(w, "httpd: not on armos (no init); the system's sockets serve %s\n", r.Host)
		return
	}
	fmt.Fprintf(w, "armos status, %s\n\nprocesses:\n", time.Now().UTC().Format(time.RFC3339))
	if ps, err := libsys.Processes(); err != nil {
		fmt.Fprintf(w, "  (unavailable: %v)\n", err)
	} else {
		fmt.Fprintf(w, "%5s %5s %-8s %4s %10s %4s %12s  %s\n", "PID", "PPID", "STATE", "THR", "MEM(KiB)", "FDS", "CPU(ms)", "NAME")
		for _, p := range ps {
			fmt.Fprintf(w, "%5d %5d %-8s %4d %10d %4d %12.1f  %s\n", p.Pid, p.PPid, p.State, p.Threads, p.MemoryKiB, p.Handles,
				float64(p.CPU.Microseconds())/1000, p.Name)
		}
	}
	for _, svc := range []string{adminproto.NetdService, adminproto.TCPService} {
		fmt.Fprintf(w, "\n%s:\n", svc)
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		text, err := report(ctx, boot, svc)
		cancel()
		if err != nil {
			fmt.Fprintf(w, "  (unavailable: %v)\n", err)
			continue
		}
		io.WriteString(w, text)
	}
}

// report asks an admin service for its counters.
func report(ctx context.Context, boot *libipc.InitClient, svc string) (string, error) {
	c, err := adminproto.Dial(ctx, boot, svc)
	if err != nil {
		return "", err
	}
	defer c.Close()
	var rep adminproto.Report
	if err := c.Call(ctx, adminproto.OpReport, &rep); err != nil {
		return "", err
	}
	return rep.Text, nil
}

// serveBytes writes n bytes (?n=N).
func serveBytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > maxBytes {
		http.Error(w, "n must be 0.."+strconv.Itoa(maxBytes), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	buf := make([]byte, 32<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	for n > 0 {
		k := int(min(n, int64(len(buf))))
		if _, err := w.Write(buf[:k]); err != nil {
			return
		}
		n -= int64(k)
	}
}
