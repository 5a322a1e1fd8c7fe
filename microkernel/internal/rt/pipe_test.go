package rt

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// Pipes, eventfds, readv and writev.

// pattern returns n bytes that differ from one position to the next.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + seed + i>>8)
	}
	return b
}

// TestPipeDataSurvivesRingWrap: data written and read in pieces of every
// size comes out intact across the ring's wrap-around; each call moves
// at most maxIOChunk bytes.
func TestPipeDataSurvivesRingWrap(t *testing.T) {
	resetKernel(t, 512)
	u, tf := newUserFrame(t, 24)
	r, w := pipeFds(t, u, tf, oNONBLOCK)
	src := pattern(3*pipeCapacity+1234, 5)
	srcVA := u.put(pageSize, src) // pages 1..13
	dst := u.scratch + 14*pageSize
	var got []byte
	written := 0
	sizes := []int{1, 4095, 4096, 4097, 3000, 10000, 77}
	for k := 0; len(got) < len(src); k++ {
		if written < len(src) {
			n := min(sizes[k%len(sizes)], len(src)-written)
			rw := svc(tf, sysWrite, w, srcVA+uint64(written), uint64(n))
			if rw != errno(EAGAIN) {
				require.Positive(t, int64(rw))
				require.LessOrEqual(t, rw, uint64(maxIOChunk))
				written += int(rw)
			}
		}
		n := sizes[(k+3)%len(sizes)]
		rr := svc(tf, sysRead, r, dst, uint64(n))
		if rr == errno(EAGAIN) {
			continue
		}
		require.Positive(t, int64(rr))
		require.LessOrEqual(t, rr, uint64(min(n, maxIOChunk)))
		got = append(got, u.get(dst, int(rr))...)
		require.Less(t, k, 10_000)
	}
	require.True(t, bytes.Equal(src, got), "data damaged")
	p := &pipes[objs[pr(u.p).fds[r].obj].pipe]
	require.Greater(t, p.wr, uint64(pipeCapacity), "the ring wrapped")
}

// TestPipeEndOfFileAndEPIPE: buffered data is read after the writers are
// gone, then EOF; writing with no reader is EPIPE and raises SIGPIPE,
// whose default action ends the process at the next trap exit.
func TestPipeEndOfFileAndEPIPE(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, 0)
	buf := u.scratch + 1024
	require.EqualValues(t, 3, svc(tf, sysWrite, w, u.put(0, []byte("end")), 3))
	require.Zero(t, svc(tf, sysClose, w))
	require.EqualValues(t, 3, svc(tf, sysRead, r, buf, 10))
	require.Zero(t, svc(tf, sysRead, r, buf, 10), "EOF, not a block")
	require.Zero(t, svc(tf, sysRead, r, buf, 10))

	r2, w2 := pipeFds(t, u, tf, 0)
	require.Zero(t, svc(tf, sysClose, r2))
	require.Equal(t, errno(EPIPE), svc(tf, sysWrite, w2, buf, 1))
	require.Equal(t, sigBit(sigPIPE), th(u.main).sigs.pending)
	finishTrap(tf)
	require.Equal(t, uint8(psDying), pr(u.p).state)
	require.True(t, pr(u.p).killed)
	require.Equal(t, uint32(sigPIPE), pr(u.p).exitStatus)
}

// TestPipeEPIPEWithSIGPIPEIgnored: with SIGPIPE ignored the write only
// fails (what Go's runtime arranges for its own fds).
func TestPipeEPIPEWithSIGPIPEIgnored(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	pr(u.p).sigact[sigPIPE].Handler = sigIgnore
	r, w := pipeFds(t, u, tf, 0)
	require.Zero(t, svc(tf, sysClose, r))
	require.Equal(t, errno(EPIPE), svc(tf, sysWrite, w, u.scratch, 1))
	require.Zero(t, th(u.main).sigs.pending)
}

// TestPipeNonblocking: EAGAIN on an empty pipe and on a full one.
func TestPipeNonblocking(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	r, w := pipeFds(t, u, tf, oNONBLOCK)
	buf := u.scratch
	require.Equal(t, errno(EAGAIN), svc(tf, sysRead, r, buf, 1))
	for k := 0; k < pipeCapacity/maxIOChunk; k++ {
		require.EqualValues(t, maxIOChunk, svc(tf, sysWrite, w, buf, 2*maxIOChunk), "bounded by maxIOChunk")
	}
	require.Equal(t, errno(EAGAIN), svc(tf, sysWrite, w, buf, 1))
	require.Zero(t, svc(tf, sysWrite, w, buf, 0))
	require.Zero(t, svc(tf, sysRead, r, buf, 0))
	require.EqualValues(t, maxIOChunk, svc(tf, sysRead, r, buf, 3*maxIOChunk))
	require.EqualValues(t, 1, svc(tf, sysWrite, w, buf, 1))
	require.Equal(t, uint8(tsRunning), th(u.main).state)
}

// TestPipeBlockingReadIsRetried: a read of an empty pipe blocks; a write
// wakes the reader to make its call again (PC back on the SVC, the
// arguments still in place), which then gets the data.
func TestPipeBlockingReadIsRetried(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, 0)
	reader := u.spawnThread(tf, u.top(4))
	switchTo(t, tf, reader)
	dst := u.scratch + 512
	svc(tf, sysRead, r, dst, 100)
	requireBlocked(t, reader, waitPipe)
	require.True(t, th(reader).intr)
	require.Equal(t, uint64(userPC), th(reader).regs.PC)

	switchTo(t, tf, u.main)
	require.EqualValues(t, 5, svc(tf, sysWrite, w, u.put(0, []byte("hello")), 5))
	requireRetrying(t, reader, sysRead)
	require.Equal(t, r, th(reader).regs.X[0])
	require.Equal(t, dst, th(reader).regs.X[1])
	require.EqualValues(t, 100, th(reader).regs.X[2])
	require.Zero(t, th(reader).retryDL)

	switchTo(t, tf, reader)
	require.EqualValues(t, 5, retry(t, tf))
	require.Equal(t, "hello", string(u.get(dst, 5)))
	checkKernel(t)
}

// TestPipeBlockingWriteIsShortThenBlocks: a blocking write that does not
// fit writes what fits; with no room at all it blocks until a read makes
// some.
func TestPipeBlockingWriteIsShortThenBlocks(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	r, w := pipeFds(t, u, tf, 0)
	buf := u.scratch
	for k := 0; k < 3; k++ {
		require.EqualValues(t, maxIOChunk, svc(tf, sysWrite, w, buf, maxIOChunk))
	}
	require.EqualValues(t, maxIOChunk-100, svc(tf, sysWrite, w, buf, maxIOChunk-100))
	require.EqualValues(t, 100, svc(tf, sysWrite, w, buf, 300), "short write: what fits")
	writer := u.spawnThread(tf, u.top(8))
	switchTo(t, tf, writer)
	svc(tf, sysWrite, w, buf, 10)
	requireBlocked(t, writer, waitPipe)

	switchTo(t, tf, u.main)
	require.EqualValues(t, 50, svc(tf, sysRead, r, u.scratch+5*pageSize, 50))
	requireRetrying(t, writer, sysWrite)
	switchTo(t, tf, writer)
	require.EqualValues(t, 10, retry(t, tf))
}

// TestPipeCloseWakesBlockedPeers: the last writer's close wakes readers
// (they see EOF), the last reader's close wakes writers (EPIPE).
func TestPipeCloseWakesBlockedPeers(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	r, w := pipeFds(t, u, tf, 0)
	reader := u.spawnThread(tf, u.top(8))
	switchTo(t, tf, reader)
	svc(tf, sysRead, r, u.scratch, 10)
	requireBlocked(t, reader, waitPipe)
	switchTo(t, tf, u.main)
	dupW := svc(tf, sysDup, w)
	require.Zero(t, svc(tf, sysClose, w))
	requireBlocked(t, reader, waitPipe) // a writer is left
	require.Zero(t, svc(tf, sysClose, dupW))
	requireRetrying(t, reader, sysRead)
	switchTo(t, tf, reader)
	require.Zero(t, retry(t, tf), "EOF")

	r2, w2 := pipeFds(t, u, tf, 0)
	for k := 0; k < pipeCapacity/maxIOChunk; k++ {
		require.EqualValues(t, maxIOChunk, svc(tf, sysWrite, w2, u.scratch, maxIOChunk))
	}
	writer := u.spawnThread(tf, u.top(6))
	switchTo(t, tf, writer)
	svc(tf, sysWrite, w2, u.scratch, 1)
	requireBlocked(t, writer, waitPipe)
	switchTo(t, tf, reader)
	require.Zero(t, svc(tf, sysClose, r2))
	requireRetrying(t, writer, sysWrite)
	switchTo(t, tf, writer)
	require.Equal(t, errno(EPIPE), retry(t, tf))
}

// TestPipe2Errors: bad flags, and a bad fds pointer that leaves no object,
// pipe or queue behind.
func TestPipe2Errors(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	census := TakeCensus()
	require.Equal(t, errno(EINVAL), svc(tf, sysPipe2, u.scratch, 1))
	require.Equal(t, errno(EFAULT), svc(tf, sysPipe2, 0x8, 0))
	require.Equal(t, errno(EFAULT), svc(tf, sysPipe2, 1<<47, 0))
	require.Equal(t, census, TakeCensus())
	require.Equal(t, int32(-1), pr(u.p).fds[3].obj)
}

// TestEventfdCounterAndSemaphore: reads hand over the counter (or 1 in
// semaphore mode); bad sizes and values are EINVAL; overflow and an
// empty counter are EAGAIN when non-blocking.
func TestEventfdCounterAndSemaphore(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	const efdSemaphore = 1
	buf := u.scratch + 256
	require.Equal(t, errno(EINVAL), svc(tf, sysEventfd2, 0, 0x4))
	fd := svc(tf, sysEventfd2, 3, oNONBLOCK)
	require.EqualValues(t, 8, svc(tf, sysRead, fd, buf, 8))
	require.EqualValues(t, 3, u.u64(buf))
	require.Equal(t, errno(EAGAIN), svc(tf, sysRead, fd, buf, 8))
	require.EqualValues(t, 8, svc(tf, sysWrite, fd, u.putU64(0, 5), 8))
	require.EqualValues(t, 8, svc(tf, sysWrite, fd, u.putU64(0, 6), 16))
	require.EqualValues(t, 8, svc(tf, sysRead, fd, buf, 64))
	require.EqualValues(t, 11, u.u64(buf))
	require.Equal(t, errno(EINVAL), svc(tf, sysRead, fd, buf, 7))
	require.Equal(t, errno(EINVAL), svc(tf, sysWrite, fd, u.putU64(0, 1), 4))
	require.Equal(t, errno(EINVAL), svc(tf, sysWrite, fd, u.putU64(0, ^uint64(0)), 8))
	require.Equal(t, errno(EFAULT), svc(tf, sysWrite, fd, 0x8, 8))
	require.EqualValues(t, 8, svc(tf, sysWrite, fd, u.putU64(0, ^uint64(0)-1), 8))
	require.Equal(t, errno(EAGAIN), svc(tf, sysWrite, fd, u.putU64(0, 1), 8), "would overflow")
	require.Equal(t, errno(EFAULT), svc(tf, sysRead, fd, 0x8, 8))
	require.EqualValues(t, 8, svc(tf, sysRead, fd, buf, 8), "the failed read left the counter")
	require.Equal(t, ^uint64(0)-1, u.u64(buf))

	sem := svc(tf, sysEventfd2, 2, oNONBLOCK|efdSemaphore|oCLOEXEC)
	require.EqualValues(t, fdCloexec, svc(tf, sysFcntl, sem, fGetfd))
	for k := 0; k < 2; k++ {
		require.EqualValues(t, 8, svc(tf, sysRead, sem, buf, 8))
		require.EqualValues(t, 1, u.u64(buf))
	}
	require.Equal(t, errno(EAGAIN), svc(tf, sysRead, sem, buf, 8))
	wide := svc(tf, sysEventfd2, 1<<32|8, oNONBLOCK)
	require.EqualValues(t, 8, svc(tf, sysRead, wide, buf, 8))
	require.EqualValues(t, 8, u.u64(buf), "initval is an unsigned int")
}

// TestEventfdBlockingReadIsRetried: a blocking read of a zero counter
// waits for a write.
func TestEventfdBlockingReadIsRetried(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	fd := svc(tf, sysEventfd2, 0, 0)
	reader := u.spawnThread(tf, u.top(4))
	switchTo(t, tf, reader)
	buf := u.scratch + 256
	svc(tf, sysRead, fd, buf, 8)
	requireBlocked(t, reader, waitEventfd)
	switchTo(t, tf, u.main)
	require.EqualValues(t, 8, svc(tf, sysWrite, fd, u.putU64(0, 0), 8))
	requireBlocked(t, reader, waitEventfd) // adding 0 changes nothing
	require.EqualValues(t, 8, svc(tf, sysWrite, fd, u.putU64(0, 9), 8))
	requireRetrying(t, reader, sysRead)
	switchTo(t, tf, reader)
	require.EqualValues(t, 8, retry(t, tf))
	require.EqualValues(t, 9, u.u64(buf))

	// Closing the last descriptor wakes waiters, who find it closed.
	svc(tf, sysRead, fd, buf, 8)
	requireBlocked(t, reader, waitEventfd)
	switchTo(t, tf, u.main)
	require.Zero(t, svc(tf, sysClose, fd))
	requireRetrying(t, reader, sysRead)
	switchTo(t, tf, reader)
	require.Equal(t, errno(EBADF), retry(t, tf))
}

// TestReadvWritev: writev gathers every buffer; readv fills the first
// buffer that can take data (a short read); bad vectors are refused.
func TestReadvWritev(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, oNONBLOCK)
	a := u.put(0, []byte("ab"))
	c := u.put(16, []byte("cdef"))
	iov := u.put(64, append(append(append(le64(a), le64(2)...), append(le64(0), le64(0)...)...), append(le64(c), le64(4)...)...))
	require.EqualValues(t, 6, svc(tf, sysWritev, w, iov, 3))
	out := captureOut(t)
	require.EqualValues(t, 6, svc(tf, sysWritev, 1, iov, 3))
	require.Contains(t, out.String(), "abcdef")

	d1, d2 := u.scratch+512, u.scratch+768
	riov := u.put(128, append(append(le64(d1), le64(0)...), append(le64(d2), le64(10)...)...))
	require.EqualValues(t, 6, svc(tf, sysReadv, r, riov, 2))
	require.Equal(t, "abcdef", string(u.get(d2, 6)))
	require.Equal(t, errno(EAGAIN), svc(tf, sysReadv, r, riov, 2))
	require.Zero(t, svc(tf, sysReadv, r, riov, 0))
	require.Zero(t, svc(tf, sysWritev, w, iov, 0))

	require.Equal(t, errno(EINVAL), svc(tf, sysWritev, w, iov, 1025))
	require.Equal(t, errno(EINVAL), svc(tf, sysReadv, r, iov, 1025))
	require.Equal(t, errno(EFAULT), svc(tf, sysWritev, w, 0x8, 1))
	require.Equal(t, errno(EFAULT), svc(tf, sysReadv, r, 0x8, 1))
	bad := u.put(192, append(le64(a), le64(1<<63)...))
	require.Equal(t, errno(EINVAL), svc(tf, sysWritev, w, bad, 1))
	require.Equal(t, errno(EINVAL), svc(tf, sysReadv, r, bad, 1))
	require.Equal(t, errno(EBADF), svc(tf, sysReadv, 99, riov, 1))
	require.Equal(t, errno(EBADF), svc(tf, sysWritev, 99, iov, 1))
	require.Equal(t, errno(EBADF), svc(tf, sysReadv, w, riov, 1))
}

// TestWritevBlockedOnFullPipeRetriesWholeCall: a writev whose first buffer
// finds the pipe full blocks, and must be retried as the same writev:
// its saved registers are the writev's own arguments (fd, iov, iovcnt).
func TestWritevBlockedOnFullPipeRetriesWholeCall(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	_, w := pipeFds(t, u, tf, 0)
	for k := 0; k < pipeCapacity/maxIOChunk; k++ {
		require.EqualValues(t, maxIOChunk, svc(tf, sysWrite, w, u.scratch, maxIOChunk))
	}
	data := u.put(0, []byte("xyz"))
	iov := u.put(64, append(le64(data), le64(3)...))
	svc(tf, sysWritev, w, iov, 1)
	requireBlocked(t, u.main, waitPipe)
	saved := th(u.main).regs
	require.Equal(t, [3]uint64{w, iov, 1}, [3]uint64{saved.X[0], saved.X[1], saved.X[2]},
		"BUG: a blocked writev saved the registers of its inner write (X1 = buffer, X2 = length), so the retry runs writev(fd, buffer, length)")
}

// TestWritevDoesNotBlockAfterPartialWrite: when a later buffer of a writev
// finds the pipe full, the call returns what it wrote, running.
func TestWritevDoesNotBlockAfterPartialWrite(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 8)
	_, w := pipeFds(t, u, tf, 0)
	for k := 0; k < 3; k++ {
		require.EqualValues(t, maxIOChunk, svc(tf, sysWrite, w, u.scratch, maxIOChunk))
	}
	require.EqualValues(t, maxIOChunk-10, svc(tf, sysWrite, w, u.scratch, maxIOChunk-10))
	a, b := u.put(0, []byte("0123456789")), u.put(16, []byte("abc"))
	iov := u.put(64, append(append(le64(a), le64(10)...), append(le64(b), le64(3)...)...))
	r := svc(tf, sysWritev, w, iov, 2)
	require.Equal(t, uint8(tsRunning), th(u.main).state,
		"BUG: writev blocked after writing its first buffer; the retry will replay the second buffer's (base, len) as (iov, iovcnt)")
	require.EqualValues(t, 10, r)
}

// TestWritevChecksDescriptorFirst: as on Linux, writev with a bad
// descriptor (or one not open for writing) is EBADF even when every
// buffer is empty.
func TestWritevChecksDescriptorFirst(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, _ := pipeFds(t, u, tf, 0)
	iov := u.put(0, append(le64(u.scratch), le64(0)...))
	require.Equal(t, errno(EBADF), svc(tf, sysReadv, 99, iov, 0))
	require.Equal(t, errno(EBADF), svc(tf, sysWritev, 99, iov, 0),
		"BUG: writev(bad fd) with nothing to write returns 0: sysWritevFn looks the descriptor up only per buffer")
	require.Equal(t, errno(EBADF), svc(tf, sysWritev, r, iov, 1), "read end")
}

// TestZeroLengthWriteToBrokenPipe: Linux's pipe_write returns 0 for an
// empty write before it looks for readers ("null write succeeds"): no
// EPIPE, no SIGPIPE. (Go's os.File.Write makes such a call for an empty
// slice.)
func TestZeroLengthWriteToBrokenPipe(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, 4)
	r, w := pipeFds(t, u, tf, 0)
	require.Zero(t, svc(tf, sysClose, r))
	require.Zero(t, svc(tf, sysWrite, w, u.scratch, 0),
		"BUG: pipeWrite checks for readers before the zero length: EPIPE and a SIGPIPE that kills the process")
	require.Zero(t, th(u.main).sigs.pending)
}
