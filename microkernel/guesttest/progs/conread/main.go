// Command conread checks console input: it reads lines from its standard
// input (the serial console when the kernel starts it) and prints each,
// until a line "quit".
//
//	conread: ready
//	conread: got "hello armos"
package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	fmt.Println("conread: ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := sc.Text()
		if line == "quit" {
			fmt.Println("conread: bye")
			return
		}
		fmt.Printf("conread: got %q\n", line)
	}
	fmt.Printf("conread: end of input: %v\n", sc.Err())
	os.Exit(1)
}
