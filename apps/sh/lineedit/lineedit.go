// Package lineedit is the serial shell's line editor: it turns the bytes a
// terminal sends into lines, echoing what it shows, with the editing keys
// a serial console's users expect — backspace, Ctrl-U (erase the line),
// Ctrl-C (abandon it), the left and right arrows (move), the up and down
// arrows (history), Home/End (Ctrl-A, Ctrl-E). It only moves the cursor
// backwards with backspaces, so it works on any terminal, and never
// writes a carriage return (the kernel prefixes each console line with
// the program's name, which stays in place).
package lineedit

import "bytes"

// MaxLine bounds a line; further characters are refused (a bell).
const MaxLine = 512

// MaxHistory bounds the history; the oldest lines go first.
const MaxHistory = 100

// Editor edits one line at a time.
type Editor struct {
	line    []byte
	pos     int
	history []string
	hpos    int    // index into history while browsing; len(history) = the new line
	saved   []byte // the new line while browsing history
	esc     int    // 0, 1 after ESC, 2 after ESC [
	out     bytes.Buffer
}

// Result is what one byte did.
type Result int

const (
	None      Result = iota // still editing
	Line                    // a line was entered (Text returns it)
	Interrupt               // Ctrl-C: the line was abandoned
	EOF                     // Ctrl-D on an empty line
)

// Feed takes one byte from the terminal and returns what it did and the
// bytes to echo.
func (e *Editor) Feed(c byte) (Result, []byte) {
	e.out.Reset()
	r := e.feed(c)
	return r, e.out.Bytes()
}

// Text returns the line just entered (after Feed returned Line) and starts
// a new one.
func (e *Editor) Text() string {
	s := string(e.line)
	if s != "" && (len(e.history) == 0 || e.history[len(e.history)-1] != s) {
		e.history = append(e.history, s)
		if len(e.history) > MaxHistory {
			e.history = e.history[1:]
		}
	}
	e.reset()
	return s
}

// History returns the lines entered, oldest first.
func (e *Editor) History() []string { return append([]string(nil), e.history...) }

func (e *Editor) reset() {
	e.line, e.pos, e.saved, e.hpos = e.line[:0], 0, nil, len(e.history)
}

func (e *Editor) feed(c byte) Result {
	switch e.esc {
	case 1:
		e.esc = 0
		if c == '[' || c == 'O' {
			e.esc = 2
		}
		return None
	case 2:
		e.esc = 0
		switch c {
		case 'A':
			e.browse(-1)
		case 'B':
			e.browse(+1)
		case 'C':
			e.right()
		case 'D':
			e.left()
		case 'H':
			e.home()
		case 'F':
			e.end()
		}
		return None
	}
	switch c {
	case 0x1b:
		e.esc = 1
	case '\r', '\n':
		e.end()
		e.out.WriteString("\n")
		return Line
	case 0x7f, 0x08:
		e.backspace()
	case 0x15: // Ctrl-U
		e.setLine(nil)
	case 0x03: // Ctrl-C
		e.end()
		e.out.WriteString("^C\n")
		e.reset()
		return Interrupt
	case 0x04: // Ctrl-D
		if len(e.line) == 0 {
			return EOF
		}
	case 0x01: // Ctrl-A
		e.home()
	case 0x05: // Ctrl-E
		e.end()
	default:
		if c < 0x20 || c > 0x7e {
			return None // other control bytes and non-ASCII: ignored
		}
		if len(e.line) >= MaxLine {
			e.out.WriteByte(0x07)
			return None
		}
		e.line = append(e.line, 0)
		copy(e.line[e.pos+1:], e.line[e.pos:])
		e.line[e.pos] = c
		e.out.Write(e.line[e.pos:])
		e.pos++
		e.back(len(e.line) - e.pos)
	}
	return None
}

// back moves the terminal's cursor n columns left.
func (e *Editor) back(n int) {
	for i := 0; i < n; i++ {
		e.out.WriteByte('\b')
	}
}

func (e *Editor) left() {
	if e.pos > 0 {
		e.pos--
		e.back(1)
	}
}

func (e *Editor) right() {
	if e.pos < len(e.line) {
		e.out.WriteByte(e.line[e.pos])
		e.pos++
	}
}

func (e *Editor) home() { e.back(e.pos); e.pos = 0 }

func (e *Editor) end() { e.out.Write(e.line[e.pos:]); e.pos = len(e.line) }

func (e *Editor) backspace() {
	if e.pos == 0 {
		return
	}
	rest := e.line[e.pos:]
	e.back(1)
	e.out.Write(rest)
	e.out.WriteByte(' ')
	e.back(len(rest) + 1)
	e.line = append(e.line[:e.pos-1], rest...)
	e.pos--
}

// setLine replaces the whole line with s (cursor at its end).
func (e *Editor) setLine(s []byte) {
	e.end()
	for range e.line {
		e.out.WriteString("\b \b")
	}
	e.line = append(e.line[:0], s...)
	e.pos = len(e.line)
	e.out.Write(e.line)
}

// browse moves through the history (-1 older, +1 newer).
func (e *Editor) browse(d int) {
	n := e.hpos + d
	if n < 0 || n > len(e.history) {
		return
	}
	if e.hpos == len(e.history) {
		e.saved = append([]byte(nil), e.line...)
	}
	e.hpos = n
	if n == len(e.history) {
		e.setLine(e.saved)
		return
	}
	e.setLine([]byte(e.history[n]))
}
