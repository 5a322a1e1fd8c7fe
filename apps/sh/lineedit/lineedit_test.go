package lineedit

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typeIn feeds s and returns the lines entered, the results seen and what
// the terminal shows when its backspaces are applied.
func typeIn(e *Editor, s string) (lines []string, results []Result, screen string) {
	var shown []byte
	for i := 0; i < len(s); i++ {
		r, out := e.Feed(s[i])
		shown = append(shown, out...)
		if r == Line {
			lines = append(lines, e.Text())
		}
		if r != None {
			results = append(results, r)
		}
	}
	return lines, results, render(shown)
}

// render plays echo bytes onto a one-line-at-a-time screen.
func render(b []byte) string {
	var out []string
	var cur []byte
	col := 0
	for _, c := range b {
		switch c {
		case '\b':
			if col > 0 {
				col--
			}
		case '\n':
			out = append(out, strings.TrimRight(string(cur), " "))
			cur, col = nil, 0
		case 0x07:
		default:
			if col < len(cur) {
				cur[col] = c
			} else {
				cur = append(cur, c)
			}
			col++
		}
	}
	return strings.Join(append(out, strings.TrimRight(string(cur), " ")), "|")
}

func TestTypingAndEditing(t *testing.T) {
	e := &Editor{}
	lines, _, screen := typeIn(e, "helo\x1b[D\x1b[Dl\r") // left twice, insert
	assert.Equal(t, []string{"hello"}, lines)
	assert.Equal(t, "hello|", screen)

	lines, _, screen = typeIn(e, "pingg\x7f 10.0.2.2\n")
	assert.Equal(t, []string{"ping 10.0.2.2"}, lines)
	assert.Equal(t, "ping 10.0.2.2|", screen)

	lines, _, screen = typeIn(e, "abc\x1b[D\x1b[D\x7f\r") // backspace in the middle
	assert.Equal(t, []string{"bc"}, lines)
	assert.Equal(t, "bc|", screen)

	lines, _, _ = typeIn(e, "garbage\x15ps\r") // Ctrl-U
	assert.Equal(t, []string{"ps"}, lines)
	lines, _, _ = typeIn(e, "xy\x01z\x05w\r") // Ctrl-A, Ctrl-E
	assert.Equal(t, []string{"zxyw"}, lines)
}

func TestHistory(t *testing.T) {
	e := &Editor{}
	typeIn(e, "one\rtwo\rtwo\rthree\r")
	assert.Equal(t, []string{"one", "two", "three"}, e.History(), "a repeated line is kept once")
	lines, _, screen := typeIn(e, "new\x1b[A\x1b[A\r")
	assert.Equal(t, []string{"two"}, lines)
	assert.Equal(t, "two|", screen)
	lines, _, _ = typeIn(e, "draft\x1b[A\x1b[B\r") // up then down: the draft back
	assert.Equal(t, []string{"draft"}, lines)
	lines, _, _ = typeIn(e, "\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A\r") // past the oldest: stays
	assert.Equal(t, []string{"one"}, lines)
	for i := 0; i < MaxHistory+10; i++ {
		typeIn(e, "cmd"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+"\r")
	}
	assert.Len(t, e.History(), MaxHistory)
}

func TestControlKeys(t *testing.T) {
	e := &Editor{}
	lines, results, screen := typeIn(e, "half a line\x03")
	assert.Empty(t, lines)
	assert.Equal(t, []Result{Interrupt}, results)
	assert.Equal(t, "half a line^C|", screen)
	_, results, _ = typeIn(e, "\x04")
	assert.Equal(t, []Result{EOF}, results, "Ctrl-D on an empty line")
	lines, results, _ = typeIn(e, "x\x04\x07\x1b[Z\xc3\xa9y\r") // Ctrl-D mid-line, BEL, unknown escape, UTF-8: ignored
	assert.Equal(t, []Result{Line}, results)
	assert.Equal(t, []string{"xy"}, lines)
	long := strings.Repeat("a", MaxLine+20)
	lines, _, _ = typeIn(e, long+"\r")
	require.Len(t, lines, 1)
	assert.Len(t, lines[0], MaxLine, "a line is bounded")
}

// Any byte sequence leaves the editor consistent (no panic, cursor in the
// line) and a final Enter enters what is shown.
func FuzzEditor(f *testing.F) {
	f.Add([]byte("abc\x1b[D\x7f\x1b[A\r"))
	f.Add([]byte("\x1b\x1b[[\x7f\x7f\x15\x03\x04"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e := &Editor{}
		for _, c := range in {
			r, _ := e.Feed(c)
			if r == Line {
				e.Text()
			}
			require.True(t, e.pos >= 0 && e.pos <= len(e.line) && len(e.line) <= MaxLine)
		}
	})
}
