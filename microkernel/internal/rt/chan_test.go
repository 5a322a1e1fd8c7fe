package rt

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"armos/abi"
	"armos/microkernel/internal/mm"
)

// IPC channels (chan.go): messages, descriptors in transit, rights, bounds,
// blocking, calls and replies, teardown.

// Scratch layout of the channel tests (offsets in a process's scratch).
const (
	offFds           = 0             // [2]int32 from chan_create
	offMsg           = 64            // an abi.Msg (send)
	offRMsg          = 128           // an abi.Msg (receive)
	offCall          = 192           // an abi.Call
	offHs            = 320           // descriptors to send
	offRHs           = 352           // descriptors received
	offInfo          = 384           // abi.HandleInfo
	offSrc           = pageSize      // data to send: 17 pages
	offDst           = 20 * pageSize // receive buffer: 17 pages
	chanScratchPages = 40
)

// chanPair makes a channel in u and returns its two descriptors.
func chanPair(t *testing.T, u *uproc, tf *Frame, flags uint64) (uint64, uint64) {
	t.Helper()
	require.Zero(t, svc(tf, abi.SysChanCreate, flags, u.scratch+offFds))
	return uint64(u.u32(u.scratch + offFds)), uint64(u.u32(u.scratch + offFds + 4))
}

// putMsg stores an abi.Msg at off and returns its address.
func (u *uproc) putMsg(off uint64, m abi.Msg) uint64 {
	return u.put(off, bytesOfStruct(&m))
}

// getMsg reads back the abi.Msg at va.
func (u *uproc) getMsg(va uint64) abi.Msg {
	var m abi.Msg
	copy(bytesOfStruct(&m), u.get(va, abi.MsgSize))
	return m
}

// send sends data and fds on fd and returns the result.
func (u *uproc) send(tf *Frame, fd uint64, data []byte, fds ...int32) uint64 {
	m := abi.Msg{Data: u.put(offSrc, data), Len: uint32(len(data)), Fds: u.scratch + offHs, NFds: uint32(len(fds))}
	if len(fds) > 0 {
		u.put(offHs, unsafe.Slice((*byte)(unsafe.Pointer(&fds[0])), 4*len(fds)))
	}
	return svc(tf, abi.SysChanSend, fd, u.putMsg(offMsg, m), 0)
}

// recvArgs stores a receive Msg with room for capBytes and capFds.
func (u *uproc) recvArgs(capBytes, capFds uint32) uint64 {
	return u.putMsg(offRMsg, abi.Msg{Data: u.scratch + offDst, Cap: capBytes, Fds: u.scratch + offRHs, FdCap: capFds, Reply: 77})
}

// recv receives on fd with deadline dl and returns the result, the data,
// the descriptors and the reply descriptor.
func (u *uproc) recv(tf *Frame, fd uint64, dl uint64) (uint64, []byte, []int32, int32) {
	r := svc(tf, abi.SysChanRecv, fd, u.recvArgs(abi.MaxMessageBytes, abi.MaxMessageHandles), dl)
	return r, nil, nil, 0
}

// received reads what the last receive (into the recvArgs layout) got.
func (u *uproc) received() ([]byte, []int32, int32) {
	m := u.getMsg(u.scratch + offRMsg)
	data := u.get(u.scratch+offDst, int(m.Len))
	var fds []int32
	for i := uint32(0); i < m.NFds; i++ {
		fds = append(fds, u.i32(u.scratch+offRHs+4*uint64(i)))
	}
	return data, fds, m.Reply
}

// TestChanMessagesOfEverySize: messages of sizes around every page
// boundary of the kernel's message layout arrive intact, in order, and
// every message page is freed once received.
func TestChanMessagesOfEverySize(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, oNONBLOCK)
	sizes := []int{0, 1, kmsgFirst - 1, kmsgFirst, kmsgFirst + 1, kmsgFirst + pageSize, 40000, abi.MaxMessageBytes}
	var sent [][]byte
	for i, n := range sizes {
		d := pattern(n, i)
		sent = append(sent, d)
		require.Zero(t, u.send(tf, a, d), "send %d bytes", n)
	}
	require.Equal(t, uint32(epollIn|epollOut), poll(fdObject(b)))
	for i := range sizes {
		r, _, _, _ := u.recv(tf, b, abi.DontWait)
		require.Zero(t, r, "recv %d", i)
		data, fds, reply := u.received()
		require.True(t, bytes.Equal(sent[i], data), "message %d (%d bytes) damaged", i, sizes[i])
		require.Empty(t, fds)
		require.Equal(t, int32(-1), reply)
		more := u.getMsg(u.scratch + offRMsg).Flags
		if i < len(sizes)-1 {
			require.Equal(t, uint32(abi.RecvMore), more, "message %d of %d: more are queued", i, len(sizes))
		} else {
			require.Zero(t, more, "the last message: the queue is empty")
		}
	}
	r, _, _, _ := u.recv(tf, b, abi.DontWait)
	require.Equal(t, errno(EAGAIN), r)
	// RecvMore is an output bit: a Msg written back is taken as input.
	require.Zero(t, u.send(tf, a, []byte("again")))
	m := u.getMsg(u.recvArgs(abi.MaxMessageBytes, 0))
	m.Flags = abi.RecvMore
	require.Zero(t, svc(tf, abi.SysChanRecv, b, u.putMsg(offRMsg, m), abi.DontWait))
	require.Zero(t, u.getMsg(u.scratch+offRMsg).Flags)
	m.Flags = 8
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysChanRecv, b, u.putMsg(offRMsg, m), abi.DontWait), "an unknown flag")
	m.Flags = abi.RecvPeek | abi.RecvPost
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysChanRecv, b, u.putMsg(offRMsg, m), abi.DontWait), "a peek posts nothing")
	// The other direction works too.
	require.Zero(t, u.send(tf, b, []byte("back")))
	r, _, _, _ = u.recv(tf, a, abi.DontWait)
	require.Zero(t, r)
	data, _, _ := u.received()
	require.Equal(t, "back", string(data))
	// With the peer gone the next receive does not wait either (it fails
	// with ECONNRESET): RecvMore on the last message too.
	require.Zero(t, u.send(tf, a, []byte("before close")))
	require.Zero(t, svc(tf, sysClose, a))
	r, _, _, _ = u.recv(tf, b, abi.DontWait)
	require.Zero(t, r)
	require.Equal(t, uint32(abi.RecvMore), u.getMsg(u.scratch+offRMsg).Flags, "the peer is gone")
	r, _, _, _ = u.recv(tf, b, abi.DontWait)
	require.Equal(t, errno(ECONNRESET), r)
	require.Zero(t, ipcPages, "message pages freed")
	require.EqualValues(t, len(sizes)+3, ReadIPCStats().Received)
}

// TestChanRefusals: every error path returns its errno and changes nothing.
func TestChanRefusals(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, oNONBLOCK)
	pr, pw := pipeFds(t, u, tf, 0)

	require.Equal(t, errno(EBADF), u.send(tf, 200, nil))
	require.Equal(t, errno(EPROTOTYPE), u.send(tf, pw, nil), "a pipe is not a channel")
	require.Equal(t, errno(EMSGSIZE), u.send(tf, a, make([]byte, abi.MaxMessageBytes+1)))
	require.Equal(t, errno(EMSGSIZE), u.send(tf, a, nil, 0, 1, 2, int32(pr), int32(pw)), "5 descriptors")
	require.Equal(t, errno(EBADF), u.send(tf, a, nil, 99))
	require.Equal(t, errno(EINVAL), u.send(tf, a, nil, int32(pr), int32(pr)), "repeated")
	require.Equal(t, errno(EINVAL), u.send(tf, a, nil, int32(a)), "own end")
	require.Equal(t, errno(EINVAL), u.send(tf, a, nil, int32(b)), "peer end")
	require.Equal(t, errno(EPERM), u.send(tf, a, nil, 1), "the console")
	require.Equal(t, errno(EFAULT), svc(tf, abi.SysChanSend, a, 0x10, 0))
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysChanSend, a, u.putMsg(offMsg, abi.Msg{}), 4), "unknown flag")
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysChanCreate, 1, u.scratch+offFds))
	m := abi.Msg{Data: 0xdead_0000, Len: 10}
	require.Equal(t, errno(EFAULT), svc(tf, abi.SysChanSend, a, u.putMsg(offMsg, m), 0), "unreadable data")
	require.Zero(t, objs[fdObject(b)].mn, "nothing was queued by a refused send")
	require.NotEqual(t, int32(-1), fdObject(pr), "descriptors stay with the sender on errors")

	// A receive buffer that is too small leaves the message queued and
	// says what is needed.
	require.Zero(t, u.send(tf, a, []byte("hello"), int32(pr)))
	require.Negative(t, fdObject(pr), "moved out of the sender's table")
	r := svc(tf, abi.SysChanRecv, b, u.recvArgs(4, 1), abi.DontWait)
	require.Equal(t, errno(EMSGSIZE), r)
	require.Equal(t, uint32(5), u.getMsg(u.scratch+offRMsg).Len)
	r = svc(tf, abi.SysChanRecv, b, u.recvArgs(5, 0), abi.DontWait)
	require.Equal(t, errno(EMSGSIZE), r)
	require.Equal(t, uint32(1), u.getMsg(u.scratch+offRMsg).NFds)
	r = svc(tf, abi.SysChanRecv, b, u.recvArgs(5, 1), abi.DontWait)
	require.Zero(t, r)
	data, fds, _ := u.received()
	require.Equal(t, "hello", string(data))
	require.Len(t, fds, 1)
	require.Equal(t, uint8(objPipeRead), objs[fdObject(uint64(fds[0]))].kind, "the pipe arrived")
	require.True(t, pr_(u).fds[fds[0]].cloexec, "received descriptors are close-on-exec")

	// Rights: a send-only duplicate cannot receive, dup or transfer.
	so := svc(tf, abi.SysHandleDup, a, abi.RightSend, 0)
	require.Positive(t, int64(so))
	require.Equal(t, errno(EACCES), svc(tf, abi.SysChanRecv, so, u.recvArgs(10, 0), abi.DontWait))
	require.Equal(t, errno(EACCES), svc(tf, abi.SysHandleDup, so, abi.RightSend, 0))
	require.Equal(t, errno(EACCES), svc(tf, sysDup, so))
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysHandleDup, a, 0x20, 0), "unknown right")
	_, b2 := chanPair(t, u, tf, oNONBLOCK)
	require.Equal(t, errno(EPERM), u.send(tf, b2, nil, int32(so)), "no transfer right")
	require.Zero(t, u.send(tf, so, []byte("x")), "it can send")
	var info abi.HandleInfo
	require.Zero(t, svc(tf, abi.SysHandleInfo, so, u.scratch+offInfo))
	copy(bytesOfStruct(&info), u.get(u.scratch+offInfo, int(unsafe.Sizeof(info))))
	require.Equal(t, abi.HandleInfo{Type: abi.TypeChannel, Rights: abi.RightSend, ID: objID(fdObject(a)), Peer: objID(fdObject(b))}, info)
}

// pr_ is the process struct of u (pr is taken by a local in the tests).
func pr_(u *uproc) *process { return pr(u.p) }

// TestChanBackPressureAndPeerClosed: a queue takes 64 messages, then
// EAGAIN, and EPOLLOUT comes back when the receiver drains; closing one
// end makes sends fail with EPIPE at once while the other side drains
// what is queued and then sees ECONNRESET; queued descriptors go too.
func TestChanBackPressureAndPeerClosed(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, oNONBLOCK)
	for i := 0; i < abi.QueueLen; i++ {
		require.Zero(t, u.send(tf, a, []byte{byte(i)}))
	}
	require.Equal(t, errno(EAGAIN), u.send(tf, a, []byte{1}))
	require.Zero(t, poll(fdObject(a))&epollOut, "not writable when full")
	require.EqualValues(t, 1, ReadIPCStats().Full)
	r, _, _, _ := u.recv(tf, b, abi.DontWait)
	require.Zero(t, r)
	require.NotZero(t, poll(fdObject(a))&epollOut, "writable again")
	// Bytes bound: four 64 KiB messages fill the 256 KiB.
	c, d := chanPair(t, u, tf, oNONBLOCK)
	big := make([]byte, abi.MaxMessageBytes)
	for i := 0; i < abi.QueueBytes/abi.MaxMessageBytes; i++ {
		require.Zero(t, u.send(tf, c, big))
	}
	left := abi.QueueBytes % abi.MaxMessageBytes
	require.Equal(t, errno(EAGAIN), u.send(tf, c, make([]byte, left+1)), "past the bytes bound")
	require.Zero(t, u.send(tf, c, make([]byte, left)), "up to it")

	// Peer closed, with descriptors queued to the closing end.
	p1, p2 := pipeFds(t, u, tf, 0)
	require.Zero(t, u.send(tf, d, []byte("to c"), int32(p1)))
	before := TakeCensus()
	require.Zero(t, svc(tf, sysClose, c))
	after := TakeCensus()
	require.Equal(t, before.Objects-2, after.Objects, "c and the pipe end in its queue are gone")
	require.NotZero(t, poll(fdObject(uint64(p2)))&epollErr, "the pipe's writer sees its reader gone")
	require.Equal(t, errno(EPIPE), u.send(tf, d, []byte("x")))
	require.Equal(t, uint32(epollIn|epollHup|epollRdhup), poll(fdObject(d)))
	for i := 0; i < abi.QueueBytes/abi.MaxMessageBytes+1; i++ {
		r, _, _, _ := u.recv(tf, d, abi.DontWait)
		require.Zero(t, r, "queued messages are still delivered")
	}
	r, _, _, _ = u.recv(tf, d, abi.DontWait)
	require.Equal(t, errno(ECONNRESET), r)
	require.EqualValues(t, 1, ReadIPCStats().Dropped)
}

// TestChanNoCycles: an end cannot travel to an end that the messages
// queued to it carry, directly or through other ends, so ends in transit
// never hold each other in a cycle; an end whose queue carries
// descriptors may travel anywhere else (a service that sends caps as soon
// as it accepts a connection, before init has handed the client its end).
func TestChanNoCycles(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	c0, c1 := chanPair(t, u, tf, oNONBLOCK)
	d0, d1 := chanPair(t, u, tf, oNONBLOCK)
	e0, e1 := chanPair(t, u, tf, oNONBLOCK)
	f0, f1 := chanPair(t, u, tf, oNONBLOCK)
	require.Zero(t, u.send(tf, d0, nil, int32(c1)), "c1 into d1's queue")
	require.Equal(t, errno(EBUSY), u.send(tf, c0, nil, int32(d1)), "d1 holds c1: it may not go into c1's queue")
	// Through another end: e1 holds d1, which holds c1.
	require.Zero(t, u.send(tf, e0, nil, int32(d1)), "d1 (carrying c1) into e1's queue: no cycle")
	require.Equal(t, errno(EBUSY), u.send(tf, c0, nil, int32(e1)), "e1 holds d1 holds c1: not into c1's queue")
	require.Equal(t, errno(EBUSY), u.send(tf, c0, []byte("x"), int32(f1), int32(e1)), "one refused end refuses the message")
	require.Zero(t, svc(tf, sysClose, uint64(c0)))
	// Any other destination is fine, and other descriptors make no cycle.
	r := svc(tf, sysPipe2, u.scratch+offFds, 0)
	require.Zero(t, r)
	p0, p1 := uint64(u.u32(u.scratch+offFds)), uint64(u.u32(u.scratch+offFds+4))
	require.Zero(t, u.send(tf, e0, nil, int32(p0)), "a pipe end into e1's queue too")
	require.Zero(t, u.send(tf, f0, nil, int32(e1)), "e1 (carrying d1, c1 and a pipe end) into f1's queue")
	require.Zero(t, svc(tf, sysClose, p1))
	// Closing everything frees everything: the chain f1 -> e1 -> d1 -> c1
	// (and the pipe's read end in e1's queue) goes with f1's last
	// descriptor.
	base := len(allObjects())
	for _, fd := range []uint64{d0, e0, f0, f1} {
		require.Zero(t, svc(tf, sysClose, fd))
	}
	require.Equal(t, base-8, len(allObjects()), "the four ends left, and c1, d1, e1 and the pipe's end in transit")
	require.Zero(t, ipcPages)
}

// allObjects lists the objects in use.
func allObjects() []int {
	var out []int
	for i := range objs {
		if objs[i].kind != objFree {
			out = append(out, i)
		}
	}
	return out
}

// TestChanBlockedReceiverGetsHandOff: a thread blocked receiving gets the
// next message straight into its buffers and runs next; a deadline ends
// the wait with ETIMEDOUT; a closing peer wakes it to ECONNRESET.
func TestChanBlockedReceiverGetsHandOff(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, 0)
	other := u.spawnThread(tf, u.top(chanScratchPages)-8*pageSize)
	main := cur
	u.recv(tf, b, abi.NoDeadline)
	requireBlocked(t, main, waitChanRecv)
	switchTo(t, tf, other)
	require.Zero(t, u.send(tf, a, []byte("direct")))
	requireWoken(t, main, 0)
	require.Equal(t, main, runQueue()[0], "the receiver runs next")
	require.EqualValues(t, 1, ReadIPCStats().Handoffs)
	data, _, _ := u.received()
	require.Equal(t, "direct", string(data))
	require.Zero(t, u.getMsg(u.scratch+offRMsg).Flags, "no RecvMore: nothing else queued")
	require.Zero(t, objs[fdObject(b)].mn, "never queued")

	// Deadline.
	switchTo(t, tf, main)
	svc(tf, abi.SysChanRecv, b, u.recvArgs(100, 0), ticksToNS(now())+1_000_000)
	requireBlocked(t, main, waitChanRecv)
	expire(th(main).deadline)
	requireWoken(t, main, errno(ETIMEDOUT))
	// A passed deadline is ETIMEDOUT at once.
	switchTo(t, tf, main)
	require.Equal(t, errno(ETIMEDOUT), svc(tf, abi.SysChanRecv, b, u.recvArgs(100, 0), 1))

	// Peer closed while blocked.
	_, _, _, _ = u.recv(tf, b, abi.NoDeadline)
	requireBlocked(t, main, waitChanRecv)
	switchTo(t, tf, other)
	require.Zero(t, svc(tf, sysClose, a))
	requireRetrying(t, main, abi.SysChanRecv)
	switchTo(t, tf, main)
	require.Equal(t, errno(ECONNRESET), retry(t, tf))
}

// TestChanBlockingSendWaitsForRoom: a blocking sender to a full queue
// blocks, and retries when the receiver makes room.
func TestChanBlockingSendWaitsForRoom(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, 0)
	for i := 0; i < abi.QueueLen; i++ {
		require.Zero(t, u.send(tf, a, []byte{byte(i)}))
	}
	other := u.spawnThread(tf, u.top(chanScratchPages)-8*pageSize)
	main := cur
	m := abi.Msg{Data: u.put(offSrc, []byte("never")), Len: 5}
	require.Equal(t, errno(EAGAIN), svc(tf, abi.SysChanSend, a, u.putMsg(offMsg, m), abi.SendDontWait),
		"SendDontWait: EAGAIN on a blocking descriptor too")
	require.Equal(t, main, cur, "and the sender keeps running")
	u.send(tf, a, []byte("late"))
	requireBlocked(t, main, waitChanSend)
	switchTo(t, tf, other)
	r, _, _, _ := u.recv(tf, b, abi.NoDeadline)
	require.Zero(t, r)
	requireRetrying(t, main, abi.SysChanSend)
	switchTo(t, tf, main)
	require.Zero(t, retry(t, tf))
	require.EqualValues(t, abi.QueueLen, objs[fdObject(b)].mn)
}

// callSetup makes a client (u) and a server process holding the two ends
// of a channel; the server is blocked receiving. It returns the server,
// the client's end and the server's end.
func callSetup(t *testing.T) (u *uproc, tf *Frame, srv *uproc, cfd, sfd uint64) {
	resetKernel(t, 2048)
	u, tf = newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, 0)
	srv = u.newChild(chanScratchPages)
	o := fdObject(b)
	getObject(o)
	sfd = 5
	installFd(srv.p, int(sfd), o, false)
	require.Zero(t, svc(tf, sysClose, b))
	switchTo(t, tf, srv.main)
	srv.recv(tf, sfd, abi.NoDeadline)
	requireBlocked(t, srv.main, waitChanRecv)
	switchTo(t, tf, u.main)
	return u, tf, srv, a, sfd
}

// call makes u call on fd with req, with a reply buffer of repCap bytes.
func (u *uproc) call(tf *Frame, fd uint64, req []byte, repCap uint32, dl uint64) uint64 {
	c := abi.Call{
		Req: abi.Msg{Data: u.put(offSrc, req), Len: uint32(len(req))},
		Rep: abi.Msg{Data: u.scratch + offDst, Cap: repCap, Fds: u.scratch + offRHs, FdCap: abi.MaxMessageHandles},
	}
	return svc(tf, abi.SysChanCall, fd, u.put(offCall, bytesOfStruct(&c)), dl)
}

// reply answers on reply descriptor rfd with data and fds.
func (u *uproc) reply(tf *Frame, rfd int32, data []byte, fds ...int32) uint64 {
	m := abi.Msg{Data: u.put(offSrc, data), Len: uint32(len(data)), Fds: u.scratch + offHs, NFds: uint32(len(fds))}
	if len(fds) > 0 {
		u.put(offHs, unsafe.Slice((*byte)(unsafe.Pointer(&fds[0])), 4*len(fds)))
	}
	return svc(tf, abi.SysReply, uint64(rfd), u.putMsg(offMsg, m))
}

// TestChanCallAndReply: a call hands the request to the blocked server,
// which runs next; its reply lands in the caller's buffers with a
// descriptor, and the caller runs next; the reply descriptor is gone.
func TestChanCallAndReply(t *testing.T) {
	u, tf, srv, cfd, _ := callSetup(t)
	u.call(tf, cfd, []byte("ping"), 100, abi.NoDeadline)
	requireBlocked(t, u.main, waitReply)
	requireWoken(t, srv.main, 0)
	require.Equal(t, []int{srv.main}, runQueue()[:1], "a direct switch to the server")
	data, fds, rfd := srv.received()
	require.Equal(t, "ping", string(data))
	require.Empty(t, fds)
	require.GreaterOrEqual(t, rfd, int32(3))
	require.Equal(t, uint8(objReply), objs[pr(srv.p).fds[rfd].obj].kind)

	switchTo(t, tf, srv.main)
	require.Equal(t, errno(EACCES), svc(tf, sysDup, uint64(rfd)), "a reply cannot be duplicated")
	_, e2 := pipeFds(t, srv, tf, 0)
	require.Equal(t, errno(EMSGSIZE), srv.reply(tf, rfd, make([]byte, 101)), "bigger than the caller's buffer")
	require.Zero(t, srv.reply(tf, rfd, []byte("pong"), int32(e2)))
	require.Negative(t, pr(srv.p).fds[rfd].obj, "the reply descriptor is consumed")
	requireWoken(t, u.main, 0)
	require.Equal(t, u.main, runQueue()[0])
	c := u.getCall()
	require.Equal(t, uint32(4), c.Rep.Len)
	require.Equal(t, uint32(1), c.Rep.NFds)
	require.Equal(t, "pong", string(u.get(u.scratch+offDst, 4)))
	fd := u.i32(u.scratch + offRHs)
	require.Equal(t, uint8(objPipeWrite), objs[pr(u.p).fds[fd].obj].kind, "the descriptor moved to the caller")
	require.EqualValues(t, 1, ReadIPCStats().Calls)
	require.EqualValues(t, 1, ReadIPCStats().Replies)
	require.Equal(t, errno(EBADF), srv.reply(tf, rfd, nil))
}

// getCall reads back the abi.Call of the last call.
func (u *uproc) getCall() abi.Call {
	var c abi.Call
	copy(bytesOfStruct(&c), u.get(u.scratch+offCall, int(unsafe.Sizeof(c))))
	return c
}

// TestChanCallFailures: a reply object closed unanswered fails the call
// with EPIPE; a caller whose deadline passed makes the late reply EPIPE;
// a server that dies with the request queued fails the call too.
func TestChanCallFailures(t *testing.T) {
	u, tf, srv, cfd, _ := callSetup(t)
	u.call(tf, cfd, []byte("a"), 100, abi.NoDeadline)
	_, _, rfd := srv.received()
	switchTo(t, tf, srv.main)
	require.Zero(t, svc(tf, sysClose, uint64(rfd)))
	requireWoken(t, u.main, errno(EPIPE))
	require.EqualValues(t, 1, ReadIPCStats().CallFailed)

	// Deadline, then a late reply.
	srv.recv(tf, 5, abi.NoDeadline)
	requireBlocked(t, srv.main, waitChanRecv)
	switchTo(t, tf, u.main)
	u.call(tf, cfd, []byte("b"), 100, ticksToNS(now())+1_000_000)
	requireBlocked(t, u.main, waitReply)
	expire(th(u.main).deadline)
	requireWoken(t, u.main, errno(ETIMEDOUT))
	_, _, rfd = srv.received()
	switchTo(t, tf, srv.main)
	require.Equal(t, errno(EPIPE), srv.reply(tf, rfd, []byte("late")))
	require.EqualValues(t, 1, ReadIPCStats().ReplyLost)
	require.Negative(t, pr(srv.p).fds[rfd].obj)

	// The server dies with a call queued (it is not receiving).
	switchTo(t, tf, u.main)
	u.call(tf, cfd, []byte("c"), 100, abi.NoDeadline)
	requireBlocked(t, u.main, waitReply)
	exitProcess(srv.p, 9, true)
	requireWoken(t, u.main, errno(EPIPE))
	reapAll(t)
	switchTo(t, tf, u.main)
	require.Equal(t, errno(EPIPE), u.send(tf, cfd, []byte("x")), "the peer died")
}

// TestChanProcessExitGivesEverythingBack: a process that dies holding
// channel ends, with messages and descriptors queued both ways and calls
// pending, leaves nothing behind.
func TestChanProcessExitGivesEverythingBack(t *testing.T) {
	resetKernel(t, 2048)
	u, tf := newUserFrame(t, chanScratchPages)
	before := TakeCensus()
	kid := u.newChild(chanScratchPages)
	switchTo(t, tf, kid.main)
	a, b := chanPair(t, kid, tf, oNONBLOCK)
	c, d := chanPair(t, kid, tf, oNONBLOCK)
	p1, _ := pipeFds(t, kid, tf, 0)
	require.Zero(t, kid.send(tf, a, make([]byte, 50000), int32(c), int32(p1)))
	require.Zero(t, kid.send(tf, b, []byte("x")))
	_ = d
	require.NotZero(t, ipcPages)
	exitProcess(kid.p, 0, false)
	reapAll(t)
	switchTo(t, tf, u.main)
	require.Equal(t, uint64(kid.pid), svc(tf, sysWait4, uint64(kid.pid), 0, 0, 0))
	require.Zero(t, ipcPages, "message pages freed")
	require.Equal(t, before, TakeCensus())
}

// TestChanReplyRecv: a server answers and waits for the next call in one
// system call; blocked, it is an ordinary receive (registers rewritten),
// and the next call is handed to it directly. A reply to a caller that
// gave up is reported in the reply's Flags and the receive goes on.
func TestChanReplyRecv(t *testing.T) {
	u, tf, srv, cfd, sfd := callSetup(t)
	for round := 0; round < 3; round++ {
		u.call(tf, cfd, []byte{'q', byte(round)}, 100, abi.NoDeadline)
		requireWoken(t, srv.main, 0)
		data, _, rfd := srv.received()
		require.Equal(t, []byte{'q', byte(round)}, data)
		switchTo(t, tf, srv.main)
		rep := srv.putMsg(offMsg, abi.Msg{Data: srv.put(offSrc, []byte{'a', byte(round)}), Len: 2})
		svc(tf, abi.SysReplyRecv, uint64(rfd), rep, sfd, srv.recvArgs(abi.MaxMessageBytes, 4), abi.NoDeadline)
		requireWoken(t, u.main, 0)
		require.Equal(t, []byte{'a', byte(round)}, u.get(u.scratch+offDst, 2))
		requireBlocked(t, srv.main, waitChanRecv)
		require.Equal(t, uint64(abi.SysChanRecv), th(srv.main).regs.X[regSyscallNo], "a plain receive now")
		require.Equal(t, sfd, th(srv.main).regs.X[0])
		require.Zero(t, srv.getMsg(rep).Flags)
		switchTo(t, tf, u.main)
	}
	// A late reply: EPIPE in Flags, and the receive still happens.
	u.call(tf, cfd, []byte("late"), 100, ticksToNS(now())+1_000_000)
	expire(th(u.main).deadline)
	requireWoken(t, u.main, errno(ETIMEDOUT))
	_, _, rfd := srv.received()
	switchTo(t, tf, u.main)
	require.Zero(t, u.send(tf, cfd, []byte("next")))
	switchTo(t, tf, srv.main)
	rep := srv.putMsg(offMsg, abi.Msg{Data: srv.put(offSrc, []byte("x")), Len: 1})
	require.Zero(t, svc(tf, abi.SysReplyRecv, uint64(rfd), rep, sfd, srv.recvArgs(100, 4), abi.DontWait))
	require.Equal(t, uint32(EPIPE), srv.getMsg(rep).Flags)
	data, _, _ := srv.received()
	require.Equal(t, "next", string(data))
	// A reply the caller cannot take stops before the receive.
	switchTo(t, tf, u.main)
	u.call(tf, cfd, []byte("big"), 1, abi.NoDeadline)
	switchTo(t, tf, srv.main)
	r := svc(tf, abi.SysChanRecv, sfd, srv.recvArgs(100, 4), abi.DontWait)
	require.Zero(t, r)
	_, _, rfd = srv.received()
	rep = srv.putMsg(offMsg, abi.Msg{Data: srv.put(offSrc, []byte("too big")), Len: 7})
	require.Equal(t, errno(EMSGSIZE), svc(tf, abi.SysReplyRecv, uint64(rfd), rep, sfd, srv.recvArgs(100, 4), abi.DontWait))
	require.Equal(t, uint32(EMSGSIZE), srv.getMsg(rep).Flags)
	require.GreaterOrEqual(t, pr(srv.p).fds[rfd].obj, int32(0), "the reply descriptor stays for a second answer")
}

// TestShmSharedBetweenProcesses: a shared-memory object mapped by two
// processes shows each one's writes to the other; it travels in a
// message; its pages go when the last descriptor and mapping are gone;
// mapping it privately, executable, or beyond its end is refused.
func TestShmSharedBetweenProcesses(t *testing.T) {
	resetKernel(t, 2048)
	u, tf := newUserFrame(t, chanScratchPages)
	kid := u.newChild(chanScratchPages)
	fd := svc(tf, abi.SysShmCreate, 3*pageSize, 0)
	require.Positive(t, int64(fd))
	require.EqualValues(t, 3, shmPages)
	const shared = uint64(mapShared)
	require.Equal(t, errno(EINVAL), svc(tf, sysMmap, 0, pageSize, protRW, uint64(mapPrivate), fd, 0), "no private copies")
	require.Equal(t, errno(EACCES), svc(tf, sysMmap, 0, pageSize, protRW|uint64(mm.ProtExec), shared, fd, 0), "W^X")
	require.Equal(t, errno(EINVAL), svc(tf, sysMmap, 0, 2*pageSize, protRW, shared, fd, 2*pageSize), "past its end")
	require.Equal(t, errno(ENODEV), svc(tf, sysMmap, 0, pageSize, protRW, shared, 1, 0), "the console is not mappable")
	va := svc(tf, sysMmap, 0, 3*pageSize, protRW, shared, fd, 0)
	require.Less(t, va, uint64(1<<47))
	_, e := pr(u.p).as.CopyOut(va+pageSize+10, []byte("from the parent"))
	require.Equal(t, mm.OK, e)
	// Give the object to the child in a message; it maps the second page.
	a, b := chanPair(t, u, tf, oNONBLOCK)
	require.Zero(t, u.send(tf, a, []byte("shm"), int32(fd)|abi.FdCopy))
	o := fdObject(b)
	getObject(o)
	installFd(kid.p, 7, o, false)
	switchTo(t, tf, kid.main)
	r, _, _, _ := kid.recv(tf, 7, abi.DontWait)
	require.Zero(t, r)
	_, fds, _ := kid.received()
	require.Len(t, fds, 1)
	kva := svc(tf, sysMmap, 0, pageSize, protRW, shared, uint64(fds[0]), pageSize)
	require.Less(t, kva, uint64(1<<47))
	got := make([]byte, 15)
	_, e = pr(kid.p).as.CopyIn(got, kva+10)
	require.Equal(t, mm.OK, e)
	require.Equal(t, "from the parent", string(got))
	_, e = pr(kid.p).as.CopyOut(kva+100, []byte("from the child"))
	require.Equal(t, mm.OK, e)
	_, e = pr(u.p).as.CopyIn(got[:14], va+pageSize+100)
	require.Equal(t, mm.OK, e)
	require.Equal(t, "from the child", string(got[:14]))
	n := svc(tf, abi.SysShmInfo, uint64(fds[0]), kid.scratch+offInfo, 3)
	require.EqualValues(t, 3, n)
	require.NotZero(t, kid.u64(kid.scratch+offInfo+8), "physical addresses for DMA")

	// Everything closed and unmapped: the pages go.
	require.Zero(t, svc(tf, sysClose, uint64(fds[0])))
	exitProcess(kid.p, 0, false)
	reapAll(t)
	switchTo(t, tf, u.main)
	require.Equal(t, uint64(kid.pid), svc(tf, sysWait4, uint64(kid.pid), 0, 0, 0))
	require.EqualValues(t, 3, shmPages, "the parent still maps it")
	require.Zero(t, svc(tf, sysClose, fd))
	require.Zero(t, svc(tf, sysClose, a))
	require.Zero(t, svc(tf, sysClose, b))
	require.Zero(t, svc(tf, sysMunmap, va, pageSize))
	require.EqualValues(t, 3, shmPages, "a mapping holds the object while any of it is mapped")
	require.Zero(t, svc(tf, sysMunmap, va+pageSize, 2*pageSize))
	require.Zero(t, shmPages, "its last mapping went with the last of its pages")
	svc(tf, sysExitGroup, 0)
	reapAll(t)
	runKernel()
}

// TestShmMapUnmapAgain: a process that maps and unmaps shared memory
// again and again (netd, as NIC drivers restart), or maps over it, gets
// its region key back each time, and the objects it let go of are freed;
// keys still mapped stay taken.
func TestShmMapUnmapAgain(t *testing.T) {
	resetKernel(t, 2048)
	u, tf := newUserFrame(t, chanScratchPages)
	const shared = uint64(mapShared)
	keep := svc(tf, abi.SysShmCreate, pageSize, 0)
	kva := svc(tf, sysMmap, 0, pageSize, protRW, shared, keep, 0)
	require.Less(t, kva, uint64(1<<47))
	require.Zero(t, svc(tf, sysClose, keep))
	for i := range 3 * maxFileMaps {
		fd := svc(tf, abi.SysShmCreate, 2*pageSize, 0)
		require.Positive(t, int64(fd), "object %d", i)
		va := svc(tf, sysMmap, 0, 2*pageSize, protRW, shared, fd, 0)
		require.Less(t, va, uint64(1<<47), "mapping %d", i)
		require.Zero(t, svc(tf, sysClose, fd))
		_, e := pr(u.p).as.CopyOut(va, []byte("x"))
		require.Equal(t, mm.OK, e)
		if i%2 == 0 {
			require.Zero(t, svc(tf, sysMunmap, va, 2*pageSize))
		} else {
			// Replaced by a fixed anonymous mapping instead.
			anon := uint64(mapPrivate | mapAnonymous | mapFixed)
			require.Equal(t, va, svc(tf, sysMmap, va, 2*pageSize, protRW, anon, ^uint64(0), 0))
			require.Zero(t, svc(tf, sysMunmap, va, 2*pageSize))
		}
		require.EqualValues(t, 1, shmPages, "only the kept object's page after %d", i)
	}
	got := make([]byte, 1)
	_, e := pr(u.p).as.CopyOut(kva, []byte("k"))
	require.Equal(t, mm.OK, e)
	_, e = pr(u.p).as.CopyIn(got, kva)
	require.Equal(t, mm.OK, e)
	require.Equal(t, "k", string(got), "the kept mapping still works")
	require.Zero(t, svc(tf, sysMunmap, kva, pageSize))
	require.Zero(t, shmPages)
}

// A contiguous object (abi.ShmContiguous, for a device's multi-page
// structures) has consecutive physical pages from the start; the flag is
// bounded, and its pages go back when it closes.
func TestShmContiguous(t *testing.T) {
	resetKernel(t, 2048)
	u, tf := newUserFrame(t, chanScratchPages)
	// Warm up (the first descriptor and object take kernel pages of
	// their own), then count.
	warm := svc(tf, abi.SysShmCreate, 6*pageSize, 0)
	require.EqualValues(t, 6, svc(tf, abi.SysShmInfo, warm, u.scratch+offInfo, 6))
	require.Zero(t, svc(tf, sysClose, warm))
	free := physPages.Stats().Free
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysShmCreate, abi.ShmMaxContiguous+pageSize, abi.ShmContiguous), "over the bound")
	require.Equal(t, errno(EINVAL), svc(tf, abi.SysShmCreate, pageSize, 0x2), "an unknown flag")
	fd := svc(tf, abi.SysShmCreate, 6*pageSize, abi.ShmContiguous)
	require.Positive(t, int64(fd))
	require.EqualValues(t, 6, svc(tf, abi.SysShmInfo, fd, u.scratch+offInfo, 6))
	first := u.u64(u.scratch + offInfo)
	require.NotZero(t, first)
	for i := uint64(1); i < 6; i++ {
		require.Equal(t, first+i*pageSize, u.u64(u.scratch+offInfo+8*i), "page %d follows page 0", i)
	}
	require.Zero(t, svc(tf, sysClose, fd))
	require.Zero(t, shmPages)
	require.Equal(t, free, physPages.Stats().Free, "every page came back")
}

// TestProcList: armos_proc_list reports every process (the kernel first)
// with its name, parent and state; a short array gets the first entries
// and the count; a bad pointer is EFAULT.
func TestProcList(t *testing.T) {
	resetKernel(t, 256)
	u, tf := newUserFrame(t, chanScratchPages)
	kid := u.newChild(1)
	switchTo(t, tf, u.main)
	const size = int(unsafe.Sizeof(abi.ProcEntry{}))
	n := svc(tf, abi.SysProcList, u.scratch+offInfo, 8)
	require.EqualValues(t, 3, n, "the kernel, u and its child")
	entry := func(i uint64) abi.ProcEntry {
		return *(*abi.ProcEntry)(unsafe.Pointer(&u.get(u.scratch+offInfo+i*uint64(size), size)[0]))
	}
	require.EqualValues(t, 0, entry(0).PPid, "the kernel has no parent")
	require.Equal(t, pr(0).pid, entry(0).Pid)
	require.Equal(t, u.pid, entry(1).Pid)
	require.Equal(t, kid.pid, entry(2).Pid)
	require.Equal(t, u.pid, entry(2).PPid)
	kidName := entry(2).Name
	require.Equal(t, "kid", cstringOf(kidName[:]))
	require.EqualValues(t, abi.ProcLive, entry(2).State)
	require.Positive(t, entry(1).Threads)
	require.Zero(t, entry(1).Objects, "only the kernel's entry counts objects")
	// A channel: two more descriptors for u, two more objects system-wide.
	handles, objects := entry(1).Handles, entry(0).Objects
	require.Positive(t, objects)
	a, b := chanPair(t, u, tf, 0)
	require.EqualValues(t, 3, svc(tf, abi.SysProcList, u.scratch+offInfo, 8))
	require.Equal(t, handles+2, entry(1).Handles, "descriptors held")
	require.Equal(t, objects+2, entry(0).Objects, "objects open")
	require.Zero(t, entry(1).Queued)
	// Messages waiting on an end it holds, counted once however many
	// descriptors name that end.
	require.Zero(t, u.send(tf, a, []byte("one")))
	require.Zero(t, u.send(tf, a, []byte("two")))
	require.Positive(t, int64(svc(tf, sysDup, b)))
	require.EqualValues(t, 3, svc(tf, abi.SysProcList, u.scratch+offInfo, 8))
	require.EqualValues(t, 2, entry(1).Queued, "two messages wait on b")
	require.Zero(t, entry(2).Queued, "the child holds no channel")
	r, _, _, _ := u.recv(tf, b, abi.DontWait)
	require.Zero(t, r)
	require.EqualValues(t, 3, svc(tf, abi.SysProcList, u.scratch+offInfo, 8))
	require.EqualValues(t, 1, entry(1).Queued, "one received")
	require.EqualValues(t, 3, svc(tf, abi.SysProcList, u.scratch+offInfo, 1), "the count, whatever the room")
	require.Equal(t, errno(EFAULT), svc(tf, abi.SysProcList, 8, 8))
	require.EqualValues(t, 3, svc(tf, abi.SysProcList, 0, 0), "no room: just the count")
}
