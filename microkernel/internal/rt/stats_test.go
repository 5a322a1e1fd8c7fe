package rt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSyscallCounts: every system call is counted under its table's name,
// one without a name by its number, numbers beyond the table together;
// calls never made are left out (armos.cpustat prints the list).
func TestSyscallCounts(t *testing.T) {
	resetKernel(t, 256)
	clear(syscallCounts[:])
	_, tf := newUserFrame(t, 4)
	svc(tf, sysGetpid)
	svc(tf, sysGetpid)
	svc(tf, 9999)
	svc(tf, 400) // within the table, without a handler
	require.Equal(t, []SyscallCount{{Name: "getpid", Count: 2}, {Name: "nr 400", Count: 1}, {Name: "beyond the table", Count: 1}}, SyscallCounts())
}
