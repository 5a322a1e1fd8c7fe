package guesttest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZZTmpArmos(t *testing.T) {
	k := kernel(t)
	dir := t.TempDir()
	img, err := BuildImage(filepath.Join(dir, "img"), []string{SysbenchPackage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Machine{MemoryMiB: 512, Image: img, Append: "-- sysbench " + os.Getenv("SB")}
	if os.Getenv("IC") != "" {
		m.Extra = IcountArgs
	}
	res, err := Run(k, m, 10*time.Minute)
	fmt.Println(res.Output)
	fmt.Println("elapsed", res.Elapsed, res.TimedOut, err)
}
