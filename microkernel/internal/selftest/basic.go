package selftest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// testTokenRing passes a token through a ring of 10,000 goroutines joined
// by channels, several times around.
func testTokenRing() (string, error) {
	const n, laps = 10000, 3
	first := make(chan int)
	in := first
	for i := 0; i < n; i++ {
		out := make(chan int)
		go func(in <-chan int, out chan<- int) {
			for v := range in {
				out <- v + 1
			}
			close(out)
		}(in, out)
		in = out
	}
	last := in
	total := 0
	for lap := 0; lap < laps; lap++ {
		first <- 0
		v := <-last
		if v != n {
			return "", fmt.Errorf("lap %d: token counted %d hops, want %d", lap, v, n)
		}
		total += v
	}
	close(first)
	for range last {
	}
	return fmt.Sprintf("%d goroutines, %d hops", n, total), nil
}

// testMapsFmt exercises maps, sorting, strings and fmt.
func testMapsFmt() (string, error) {
	m := map[string]int{}
	for i := 0; i < 5000; i++ {
		m[fmt.Sprintf("key-%d", i%1000)] += i
	}
	if len(m) != 1000 {
		return "", fmt.Errorf("map has %d keys, want 1000", len(m))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	got := fmt.Sprintf("%s=%d %x %.2f %v", keys[0], m[keys[0]], 255, 3.14159, []int{1, 2})
	want := "key-0=10000 ff 3.14 [1 2]"
	if got != want {
		return "", fmt.Errorf("fmt gave %q, want %q", got, want)
	}
	return strings.Join(keys[:2], ","), nil
}

var errSentinel = errors.New("boom")

// testPanicRecover panics with a value and recovers it.
func testPanicRecover() (string, error) {
	got := func() (r any) {
		defer func() { r = recover() }()
		panic(errSentinel)
	}()
	if got != errSentinel {
		return "", fmt.Errorf("recovered %v, want %v", got, errSentinel)
	}
	return "recovered", nil
}

type node struct{ next *node }

var sinkNode *node

// testNilDeref dereferences nil: the trap layer turns the data abort into
// SIGSEGV for the runtime, which panics with a runtime error.
func testNilDeref() (string, error) {
	var n *node
	msg := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		sinkNode = n.next
		return "no panic"
	}()
	if !strings.Contains(msg, "nil pointer dereference") {
		return "", fmt.Errorf("got %q", msg)
	}
	return msg, nil
}
