//go:build !netdprof

package main

import "errors"

// startCPUProfile refuses: this netd was built without the profiler, which
// would add about 200 KiB to every netd's resident memory. Build with
// `go build -tags netdprof ./servers/netd` to use -cpuprofile.
func startCPUProfile(string) (func(), error) {
	return nil, errors.New("-cpuprofile: this netd was built without the profiler; rebuild it with -tags netdprof")
}
