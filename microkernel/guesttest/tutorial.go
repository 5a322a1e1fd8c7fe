package guesttest

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// A tutorial (docs/protocol-server.md's) is run by a test as it is
// written: its marked code blocks are steps. A fenced block is marked by
// a word after the language in its info string:
//
//	```go file=servers/toyd/main.go   a file to create, whole (any language)
//	```sh run                         commands to run from the repository's root
//	```sh start                       a command that keeps running (QEMU) while the next steps go on
//	```text type                      lines typed on the started command's input (armos's console)
//	```text output                    lines the previous run, or the started command, prints
//
// Unmarked blocks are prose. Every line of an output block must appear, in
// that order, with runs of blanks matching any blanks and <...> (angle
// brackets around anything) standing for what differs between runs.

// Step kinds.
const (
	StepFile   = "file"
	StepRun    = "run"
	StepStart  = "start"
	StepType   = "type"
	StepOutput = "output"
)

// TutorialStep is one marked block.
type TutorialStep struct {
	Kind string
	Path string // StepFile: the file, relative to the repository's root
	Text string // the block's lines, each ending in a newline
	Line int    // the line of the block's opening fence (1-based)
}

// ParseTutorial returns md's marked blocks in order.
func ParseTutorial(md string) ([]TutorialStep, error) {
	if !utf8.ValidString(md) {
		return nil, fmt.Errorf("not UTF-8")
	}
	var steps []TutorialStep
	lines := strings.SplitAfter(md, "\n")
	for i := 0; i < len(lines); i++ {
		open := strings.TrimRight(lines[i], "\r\n")
		if !strings.HasPrefix(open, "```") {
			continue
		}
		fence := open[:len(open)-len(strings.TrimLeft(open, "`"))]
		start := i
		var body strings.Builder
		for i++; i < len(lines) && strings.TrimRight(lines[i], " \r\n") != fence; i++ {
			body.WriteString(strings.TrimSuffix(strings.TrimSuffix(lines[i], "\n"), "\r") + "\n")
		}
		if i == len(lines) {
			return nil, fmt.Errorf("line %d: code block not closed", start+1)
		}
		words := strings.Fields(open[len(fence):])
		if len(words) < 2 {
			continue // no language, or unmarked
		}
		s := TutorialStep{Text: body.String(), Line: start + 1}
		for _, w := range words[1:] {
			kind := w
			if p, ok := strings.CutPrefix(w, "file="); ok {
				if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." {
					return nil, fmt.Errorf("line %d: file=%q: not a clean relative path", s.Line, p)
				}
				kind, s.Path = StepFile, p
			} else if kind != StepRun && kind != StepStart && kind != StepType && kind != StepOutput {
				return nil, fmt.Errorf("line %d: unknown mark %q", s.Line, w)
			}
			if s.Kind != "" {
				return nil, fmt.Errorf("line %d: two marks", s.Line)
			}
			s.Kind = kind
		}
		if s.Kind == StepOutput {
			if _, err := OutputPatterns(s.Text); err != nil {
				return nil, fmt.Errorf("line %d: %w", s.Line, err)
			}
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// placeholder is <...> in an output line.
var placeholder = regexp.MustCompile(`<[^<>]+>`)

// OutputPatterns turns an output block into one pattern per non-blank
// line: the line, its blanks matching any blanks and its placeholders
// anything on the line.
func OutputPatterns(text string) ([]*regexp.Regexp, error) {
	var res []*regexp.Regexp
	for _, line := range strings.Split(text, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		for i, w := range words {
			parts := placeholder.Split(w, -1)
			for j := range parts {
				parts[j] = regexp.QuoteMeta(parts[j])
			}
			words[i] = strings.Join(parts, `[^\n]*?`)
		}
		re, err := regexp.Compile(strings.Join(words, `[ \t]+`))
		if err != nil {
			return nil, fmt.Errorf("output line %q: %w", line, err)
		}
		res = append(res, re)
	}
	return res, nil
}
