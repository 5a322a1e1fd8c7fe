package rt

import (
	"unsafe"

	"armos/microkernel/internal/mm"
	"armos/microkernel/internal/vdso"
)

// Pages the kernel maps into every process, near the top of the user half:
//
//	vvarVA    the vDSO's data page: clock parameters (EL0 read-only)
//	vdsoVA    the vDSO image (AT_SYSINFO_EHDR; EL0 read+execute): clock_gettime,
//	          gettimeofday and clock_getres read the counter at EL0
//	sigtrampVA the signal return trampoline (EL0 read+execute)
//
// They are shared: one physical page each, never freed with a process.
// The vDSO finds its data page PC-relatively, one page below the image.

const (
	userPagesBase = mm.UserHigh - 16*pageSize
	vvarVA        = userPagesBase
	vdsoVA        = userPagesBase + pageSize
	sigtrampVA    = vdsoVA + vdso.PageSize
)

var (
	vvarPA, vdsoPA, sigtrampPA uint64
	vvarPage                   *[pageSize]byte // the kernel's view of the data page
	// vv is the kernel's copy of the clock parameters: clock_gettime
	// answers from it, so the kernel and the vDSO agree to the nanosecond.
	vv vdso.VVar
)

// initUserPages builds the shared pages: the vDSO image, its data page for
// the counter frequency and the boot-time realtime base, the trampoline.
func initUserPages() bool {
	if len(vdso.Image) > pageSize {
		return false
	}
	pa, va := allocPages(3)
	if va == 0 {
		return false
	}
	vvarPA, vdsoPA, sigtrampPA = pa, pa+pageSize, pa+2*pageSize
	vvarPage = (*[pageSize]byte)(ptrOf(va))
	vv = vdso.Fill(vvarPage[:], vdso.Params{CounterFreq: counterFreq, RealtimeAtBoot: realtimeBase})
	copy(unsafe.Slice((*byte)(ptrOf(va+pageSize)), pageSize), vdso.Image)
	code := (*[2]uint32)(ptrOf(va + 2*pageSize))
	code[0] = 0xd2801168 // MOVZ X8, #139 (rt_sigreturn)
	code[1] = 0xd4000001 // SVC #0
	SyncICache()
	return true
}

// publishRealtime updates the realtime clocks of the data page (and the
// kernel's copy) after the wall clock was set.
func publishRealtime() {
	if vvarPage == nil {
		return
	}
	n := vdso.New(vdso.Params{CounterFreq: counterFreq, RealtimeAtBoot: realtimeBase})
	Locked(func() {
		vv = n
		vdso.Publish(vvarPage, &vv)
	})
}

// mapUserPages maps the shared pages into an address space.
//
//go:nosplit
func mapUserPages(as *mm.AddressSpace) mm.Errno {
	if sigtrampPA == 0 {
		return mm.OK
	}
	if e := as.VMAs.Set(vvarVA, pageSize, mm.ProtRead, 0); e != mm.OK {
		return e
	}
	if e := as.VMAs.Set(vdsoVA, 2*pageSize, mm.ProtRead|mm.ProtExec, 0); e != mm.OK {
		return e
	}
	if e := as.PT.Map(vvarVA, vvarPA, mm.UserRO); e != mm.OK {
		return e
	}
	if e := as.PT.Map(vdsoVA, vdsoPA, mm.UserRX); e != mm.OK {
		return e
	}
	return as.PT.Map(sigtrampVA, sigtrampPA, mm.UserRX)
}

// vdsoSigreturn returns where a user signal handler returns to.
//
//go:nosplit
func vdsoSigreturn(p int) uint64 { return sigtrampVA }

// VDSOAddr is the vDSO's address in every process (AT_SYSINFO_EHDR).
func VDSOAddr() uint64 { return vdsoVA }
