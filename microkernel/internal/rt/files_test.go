package rt

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestConsoleWriteIsBounded(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	buf := make([]byte, 4*maxConsoleWrite)
	addr := uint64(uintptr(unsafe.Pointer(&buf[0])))
	require.EqualValues(t, 5, svc(&tf, sysWrite, 1, addr, 5))
	require.EqualValues(t, maxConsoleWrite, svc(&tf, sysWrite, 2, addr, uint64(len(buf))),
		"a long console write is a short write")
	require.Zero(t, svc(&tf, sysWrite, 1, 0, 0), "an empty write needs no buffer")
	require.Equal(t, errno(EFAULT), svc(&tf, sysWrite, 1, 0, 1))
	require.Equal(t, errno(EBADF), svc(&tf, sysWrite, 9, addr, 1))
	require.Equal(t, errno(EBADF), svc(&tf, sysWrite, ^uint64(0), addr, 1))

	epfd := svc(&tf, sysEpollCreate1, 0)
	require.Equal(t, errno(EINVAL), svc(&tf, sysWrite, epfd, addr, 8), "epoll descriptors are not writable")
	efd := svc(&tf, sysEventfd2, 0, 0)
	require.Equal(t, errno(EINVAL), svc(&tf, sysWrite, efd, addr, 4), "an eventfd takes 8 bytes")
	require.EqualValues(t, 8, svc(&tf, sysWrite, efd, addr, uint64(len(buf))))
}

func TestEpollPwaitTimeoutReturnsZero(t *testing.T) {
	resetKernel(t, 16)
	var tf Frame
	epfd := svc(&tf, sysEpollCreate1, 0)
	var out [2]epollEvent
	svc(&tf, sysClone, cloneVM|cloneThread, 0x9000)
	svc(&tf, sysEpollPwait, epfd, uint64(addrOfEv(&out[0])), 2, 10) // 10 ms
	require.Equal(t, uint8(tsBlocked), threads[0].state)
	dl := threads[0].deadline
	require.Equal(t, dl, nextEvent(), "the timer is armed for the epoll deadline")
	expire(dl)
	require.Equal(t, uint8(tsRunnable), threads[0].state)
	require.Zero(t, threads[0].regs.X[0], "a timed-out epoll_pwait returns no events")
	require.Equal(t, errno(EINVAL), svc(&tf, sysEpollPwait, epfd, uint64(addrOfEv(&out[0])), 0, 0), "maxevents 0")
	require.Equal(t, errno(EBADF), svc(&tf, sysEpollPwait, 1, uint64(addrOfEv(&out[0])), 2, 0), "not an epoll")
}
