package linuxref

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Running programs in the guest: /init runs each OptRun command in turn,
// after the ready line (and the network, if asked), and prints the
// program's output and end the way armos prints a process's:
//
//	NAME: LINE                                     each line it writes (stdout and stderr)
//	linuxref: process NAME (pid N) exited with status S
//	linuxref: process NAME (pid N) killed by signal K (status 128+K)
//
// NAME is the base name of the program's path, so a parser of armos's
// console output reads the program's lines unchanged.

// EncodeArgs encodes a command (the program's path, then its arguments;
// os.Args of the program) as the value of one kernel command line word:
// the arguments joined by commas, each with every comma, percent sign,
// double quote, space, control character and non-ASCII byte written as
// %XX (hex). The kernel splits its command line at spaces (and treats
// double quotes specially), so neither may appear raw; commas are the
// separator. "sysbench all -n 5" becomes "sysbench,all,-n,5" and an
// argument "a b,c" becomes "a%20b%2Cc".
func EncodeArgs(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(',')
		}
		for j := 0; j < len(a); j++ {
			c := a[j]
			if c <= ' ' || c >= 0x7f || c == ',' || c == '%' || c == '"' {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// DecodeArgs is the inverse of EncodeArgs. It refuses a malformed escape
// and an empty program path (an empty argument after it is fine).
func DecodeArgs(s string) ([]string, error) {
	parts := strings.Split(s, ",")
	args := make([]string, 0, len(parts))
	for _, p := range parts {
		var b strings.Builder
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c != '%' {
				b.WriteByte(c)
				continue
			}
			if i+2 >= len(p) {
				return nil, fmt.Errorf("truncated escape in %q", s)
			}
			v, err := strconv.ParseUint(p[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad escape %q in %q", p[i:i+3], s)
			}
			b.WriteByte(byte(v))
			i += 2
		}
		args = append(args, b.String())
	}
	if args[0] == "" {
		return nil, errors.New("no program path")
	}
	return args, nil
}

// LineWriter prefixes every line written to it and passes each line on to
// W with one Write (so lines from several writers on a console never mix
// inside a line). A last line without a newline is passed on by Close.
type LineWriter struct {
	W      io.Writer
	Prefix string
	buf    []byte
}

// Write buffers p and writes out every complete line.
func (lw *LineWriter) Write(p []byte) (int, error) {
	lw.buf = append(lw.buf, p...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := lw.emit(lw.buf[:i+1]); err != nil {
			return len(p), err
		}
		lw.buf = lw.buf[i+1:]
	}
}

// Close writes out a last unterminated line, with a newline added.
func (lw *LineWriter) Close() error {
	if len(lw.buf) == 0 {
		return nil
	}
	line := append(lw.buf, '\n')
	lw.buf = nil
	return lw.emit(line)
}

func (lw *LineWriter) emit(line []byte) error {
	out := make([]byte, 0, len(lw.Prefix)+len(line))
	out = append(out, lw.Prefix...)
	out = append(out, line...)
	_, err := lw.W.Write(out)
	return err
}

// Exit is how a program run by /init ended.
type Exit struct {
	Name   string // base name of the program's path
	Pid    int
	Status int // exit status, or 128+Signal when killed
	Signal int // the signal that killed it; 0 if it exited
}

// String formats e as its console line (without a newline).
func (e Exit) String() string {
	if e.Signal != 0 {
		return fmt.Sprintf("linuxref: process %s (pid %d) killed by signal %d (status %d)", e.Name, e.Pid, e.Signal, e.Status)
	}
	return fmt.Sprintf("linuxref: process %s (pid %d) exited with status %d", e.Name, e.Pid, e.Status)
}

var exitLine = regexp.MustCompile(`linuxref: process (\S+) \(pid (\d+)\) (?:exited with status (\d+)|killed by signal (\d+) \(status (\d+)\))`)

// ParseExits returns the exit lines in console output, in order.
func ParseExits(out string) []Exit {
	var es []Exit
	for _, m := range exitLine.FindAllStringSubmatch(out, -1) {
		e := Exit{Name: m[1]}
		e.Pid, _ = strconv.Atoi(m[2])
		if m[3] != "" {
			e.Status, _ = strconv.Atoi(m[3])
		} else {
			e.Signal, _ = strconv.Atoi(m[4])
			e.Status, _ = strconv.Atoi(m[5])
		}
		es = append(es, e)
	}
	return es
}
