package rt

import "armos/microkernel/internal/mm"

// Pages the kernel maps into every process, at the top of the user half:
//
//	userPagesBase            vvar: the clock parameters the vDSO reads (EL0 read-only)
//	userPagesBase + 1 page   the signal return trampoline (EL0 read+execute)
//
// They are shared (one physical page each, never freed with a process).

const (
	userPagesBase = mm.UserHigh - 16*pageSize
	sigtrampVA    = userPagesBase + pageSize
)

// sigtrampPA is the physical page holding the trampoline.
var sigtrampPA uint64

// initUserPages builds the shared pages.
func initUserPages() bool {
	pa, va := allocPages(1)
	if va == 0 {
		return false
	}
	code := (*[2]uint32)(ptrOf(va))
	code[0] = 0xd2801168 // MOVZ X8, #139 (rt_sigreturn)
	code[1] = 0xd4000001 // SVC #0
	sigtrampPA = pa
	SyncICache()
	return true
}

// mapUserPages maps the shared pages into process p's own address space.
//
//go:nosplit
func mapUserPages(as *mm.AddressSpace) mm.Errno {
	if sigtrampPA == 0 {
		return mm.OK
	}
	if e := as.VMAs.Set(sigtrampVA, pageSize, mm.ProtRead|mm.ProtExec, 0); e != mm.OK {
		return e
	}
	return as.PT.Map(sigtrampVA, sigtrampPA, mm.UserRX)
}

// vdsoSigreturn returns where a user signal handler returns to.
//
//go:nosplit
func vdsoSigreturn(p int) uint64 { return sigtrampVA }
