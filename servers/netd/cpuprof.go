//go:build netdprof

package main

import (
	"os"
	"runtime/pprof"
)

// startCPUProfile writes a Go CPU profile to path until the returned
// function is called. Only a netd built with -tags netdprof carries the
// profiler (runtime/pprof and its compressor are about 200 KiB of the
// program's resident text and tables).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
