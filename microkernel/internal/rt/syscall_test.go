package rt

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSyscallNumbersMatchLinux checks every row of the table against the
// Linux arm64 numbers, as the Go toolchain records them
// ($GOROOT/src/syscall/zsysnum_linux_arm64.go).
func TestSyscallNumbersMatchLinux(t *testing.T) {
	f, err := os.Open(filepath.Join(goruntime.GOROOT(), "src", "syscall", "zsysnum_linux_arm64.go"))
	require.NoError(t, err)
	defer f.Close()
	linux := map[string]int{}
	re := regexp.MustCompile(`^\s*SYS_(\w+)\s*=\s*(\d+)`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[2])
			linux[strings.ToLower(m[1])] = n
		}
	}
	require.Greater(t, len(linux), 250)
	// Names the Go table spells differently.
	alias := map[string]string{"newfstatat": "fstatat", "pread64": "pread64"}
	checked := 0
	for nr, e := range syscalls {
		if e.name == "" {
			continue
		}
		name := e.name
		if a, ok := alias[name]; ok {
			name = a
		}
		want, ok := linux[name]
		if !ok {
			continue // newer than the Go toolchain's list (pidfd_*, clone3, faccessat2...)
		}
		require.Equal(t, want, nr, "%s is number %d on Linux arm64", e.name, want)
		checked++
	}
	require.Greater(t, checked, 60)
}

func TestSyscallTableEntriesAreNamed(t *testing.T) {
	for nr, e := range syscalls {
		if e.fn != nil || e.service {
			require.NotEmpty(t, e.name, "syscall %d has a handler but no name", nr)
		}
	}
	for _, nr := range []int{sysMmap, sysClone, sysFutex, sysClockGettime, sysEpollPwait, sysRtSigreturn, sysExecve, sysWait4} {
		require.True(t, syscalls[nr].fn != nil || syscalls[nr].service, syscalls[nr].name)
	}
}
