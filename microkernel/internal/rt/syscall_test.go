package rt

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func addrOf32(p *uint32) uintptr     { return uintptr(unsafe.Pointer(p)) }
func addrOfTS(p *timespec) uintptr   { return uintptr(unsafe.Pointer(p)) }
func addrOfEv(p *epollEvent) uintptr { return uintptr(unsafe.Pointer(p)) }

func TestSyscallTableEntriesAreNamed(t *testing.T) {
	named := 0
	for nr, e := range syscalls {
		if e.fn != nil {
			require.NotEmpty(t, e.name, "syscall %d has a handler but no name", nr)
		}
		if e.name != "" {
			named++
		}
	}
	require.GreaterOrEqual(t, named, 30)
	for _, nr := range []int{sysMmap, sysClone, sysFutex, sysClockGettime, sysEpollPwait, sysRtSigreturn} {
		require.NotNil(t, syscalls[nr].fn, syscalls[nr].name)
	}
}

func TestUnknownSyscallIsENOSYS(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	require.Equal(t, errno(ENOSYS), svc(&tf, 400))
	require.Equal(t, errno(ENOSYS), svc(&tf, sysPrctl))
	require.Equal(t, errno(ENOSYS), svc(&tf, 100000))
	require.NotZero(t, reported[400/64]&(1<<(400%64)), "reported once")
}

func TestMustSucceedCalls(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	var act, old sigaction
	act.Handler, act.Flags = 0x4000, saOnstack
	require.Zero(t, svc(&tf, sysRtSigaction, sigURG, uint64(uintptr(unsafe.Pointer(&act))), 0, 8))
	require.Zero(t, svc(&tf, sysRtSigaction, sigURG, 0, uint64(uintptr(unsafe.Pointer(&old))), 8))
	require.Equal(t, act, old)
	var mask, oldMask uint64 = 1 << 5, 0
	require.Zero(t, svc(&tf, sysRtSigprocmask, sigSetmask, uint64(uintptr(unsafe.Pointer(&mask))), uint64(uintptr(unsafe.Pointer(&oldMask))), 8))
	require.EqualValues(t, 1<<5, threads[cur].sigs.mask)
	var st stackT
	require.Zero(t, svc(&tf, sysSigaltstack, 0, uint64(uintptr(unsafe.Pointer(&st)))))
	require.EqualValues(t, ssDisable, st.Flags, "no alternate stack yet")
	for fd := uint64(0); fd < 3; fd++ {
		require.Zero(t, svc(&tf, sysFcntl, fd, fGetfd))
	}
	require.Equal(t, errno(EBADF), svc(&tf, sysFcntl, 9, fGetfd))
	require.Equal(t, errno(ENOENT), svc(&tf, sysOpenat, 0, 0, 0))
	var cpus uint64
	require.EqualValues(t, 8, svc(&tf, sysSchedGetaffinity, 0, 8, uint64(uintptr(unsafe.Pointer(&cpus)))))
	require.EqualValues(t, 0b11, cpus)
}

func TestClockGettime(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	var a, b timespec
	require.Zero(t, svc(&tf, sysClockGettime, clockMonotonic, uint64(addrOfTS(&a))))
	require.Zero(t, svc(&tf, sysClockGettime, clockMonotonic, uint64(addrOfTS(&b))))
	require.GreaterOrEqual(t, b.Sec*1e9+b.Nsec, a.Sec*1e9+a.Nsec, "monotonic")
	require.Less(t, a.Nsec, int64(1e9))
	require.Equal(t, errno(EFAULT), svc(&tf, sysClockGettime, clockMonotonic, 0))
}

func TestEpollEventfdWakesWaiter(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	epfd := svc(&tf, sysEpollCreate1, 0)
	efd := svc(&tf, sysEventfd2, 0, 0)
	require.EqualValues(t, 3, epfd)
	require.EqualValues(t, 4, efd)
	ev := epollEvent{Events: epollIn, Data: 0xfeed}
	require.Zero(t, svc(&tf, sysEpollCtl, epfd, epollCtlAdd, efd, uint64(addrOfEv(&ev))))
	require.Equal(t, errno(EEXIST), svc(&tf, sysEpollCtl, epfd, epollCtlAdd, efd, uint64(addrOfEv(&ev))))

	var out [4]epollEvent
	outAddr := uint64(addrOfEv(&out[0]))
	require.Zero(t, svc(&tf, sysEpollPwait, epfd, outAddr, 4, 0), "nothing ready, timeout 0")

	svc(&tf, sysClone, cloneVM|cloneThread, 0x9000)
	svc(&tf, sysEpollPwait, epfd, outAddr, 4, ^uint64(0)) // timeout -1: blocks
	require.Equal(t, uint8(tsBlocked), threads[0].state)
	require.Equal(t, 1, cur)

	one := uint64(1)
	require.EqualValues(t, 8, svc(&tf, sysWrite, efd, uint64(uintptr(unsafe.Pointer(&one))), 8))
	require.Equal(t, uint8(tsRunnable), threads[0].state)
	require.EqualValues(t, 1, threads[0].regs.X[0], "one event")
	require.Equal(t, epollEvent{Events: epollIn, Data: 0xfeed}, out[0])

	var got uint64
	require.EqualValues(t, 8, svc(&tf, sysRead, efd, uint64(uintptr(unsafe.Pointer(&got))), 8))
	require.EqualValues(t, 1, got)
	require.Equal(t, errno(EAGAIN), svc(&tf, sysRead, efd, uint64(uintptr(unsafe.Pointer(&got))), 8))
	require.Zero(t, svc(&tf, sysClose, efd))
	require.Equal(t, errno(EBADF), svc(&tf, sysClose, efd))
}

func TestSignalFrameRoundTrip(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	altStack := make([]byte, 32<<10)
	st := stackT{SP: uint64(uintptr(unsafe.Pointer(&altStack[0]))), Size: uint64(len(altStack))}
	require.Zero(t, svc(&tf, sysSigaltstack, uint64(uintptr(unsafe.Pointer(&st))), 0))
	act := sigaction{Handler: 0x5000, Flags: saOnstack}
	require.Zero(t, svc(&tf, sysRtSigaction, sigURG, uint64(uintptr(unsafe.Pointer(&act))), 0, 8))

	for i := range tf.X {
		tf.X[i] = uint64(i * 3)
	}
	tf.SP, tf.PC, tf.PSTATE = 0x7000, 0x6000, pstateEL1t|0x20000000
	tf.Q[7] = [2]uint64{11, 22}
	saved := tf

	require.Zero(t, kill(threads[cur].tid, sigURG))
	deliverSignals(&tf)
	require.EqualValues(t, sigURG, tf.X[0])
	require.EqualValues(t, 0x5000, tf.PC)
	require.EqualValues(t, sigreturnPC(), tf.X[regLR])
	require.True(t, onAltStack(&threads[cur].sigs, tf.SP), "frame on the alternate stack")
	require.Zero(t, tf.SP%16)
	require.NotZero(t, threads[cur].sigs.mask&(1<<(sigURG-1)), "SIGURG blocked in its handler")
	uc := (*[sigframeSize]byte)(ptrOf(uintptr(tf.X[2]) - sfUC))
	require.EqualValues(t, 0x6000, get64(uc, sfUC+ucMcontext+scPC))

	// The handler edits the saved PC (as async preemption does) and returns.
	put64(uc, sfUC+ucMcontext+scPC, 0x6100)
	tf.X[regSyscallNo] = sysRtSigreturn
	syscall(&tf)
	want := saved
	want.PC = 0x6100
	want.X[regSyscallNo] = saved.X[regSyscallNo]
	tf.X[regSyscallNo] = saved.X[regSyscallNo]
	require.Equal(t, want, tf)
	require.Zero(t, threads[cur].sigs.mask&(1<<(sigURG-1)), "mask restored")
}

func TestHwcapFromIDRegisters(t *testing.T) {
	const cortexA72ISAR0, cortexA72PFR0 = 0x0000000000011120, 0x0000000000002222
	h := hwcap(cortexA72ISAR0, cortexA72PFR0)
	require.Equal(t, uint64(hwcapFP|hwcapASIMD|hwcapAES|hwcapPMULL|hwcapSHA1|hwcapSHA2|hwcapCRC32), h)
	require.Zero(t, h&hwcapATOMICS, "cortex-a72 has no LSE atomics")
	require.Zero(t, h&hwcapCPUID)
	require.NotZero(t, hwcap(0x0000000000211120, cortexA72PFR0)&hwcapATOMICS, "Atomic field 2 means LSE")
	require.Zero(t, hwcap(0, 0x00000000000ff0000)&(hwcapFP|hwcapASIMD), "FP and AdvSIMD not implemented")
}
