package linuxref

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestZZTmpRun(t *testing.T) {
	dir, _ := DefaultDir()
	a, err := Locate(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Prepare(a, t.TempDir(), GuestFile{Path: "/bin/sysbench", Host: os.Getenv("PROG")})
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"/bin/sysbench"}, strings.Fields(os.Getenv("SB"))...)
	start := time.Now()
	res, err := Boot(g, Machine{MemoryMiB: 512, Icount: os.Getenv("IC") != "", Cmdline: os.Getenv("KCMD"), Options: Options{Run: [][]string{args}}}, 20*time.Minute)
	fmt.Println(res.Output)
	fmt.Println("elapsed", time.Since(start), err)
}
