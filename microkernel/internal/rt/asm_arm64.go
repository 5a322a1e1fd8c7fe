package rt

// Defined in entry_arm64.s and vectors_arm64.s. None is called from Go;
// these declarations give the assembly its Go signatures (for go vet) and
// let Go code take their addresses.

func entry()
func el1entry()
func el1high()
func vectors()
func trapCommon()
func idleLoop()
func sigreturnTrampoline()

// idleLoopPC returns the ABI0 entry address of idleLoop.
func idleLoopPC() uintptr

// sigreturnPC returns the ABI0 entry address of sigreturnTrampoline.
func sigreturnPC() uintptr
