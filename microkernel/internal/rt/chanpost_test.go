package rt

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"armos/abi"
)

// Posted receive buffers (abi.RecvPost): one copy a message instead of
// two, and every way a posting ends.

// postSetup makes a process with every scratch page in (so that the
// census taken after does not count them) and a non-blocking channel in it.
func postSetup(t *testing.T) (u *uproc, tf *Frame, before Census, a, b uint64) {
	u, tf = newUserFrame(t, chanScratchPages)
	u.put(0, make([]byte, chanScratchPages*pageSize))
	before = TakeCensus()
	a, b = chanPair(t, u, tf, oNONBLOCK)
	return
}

// recvPost makes a non-waiting receive on fd into the receive buffer at
// offDst with RecvPost (n bytes of room) and returns the result.
func (u *uproc) recvPost(tf *Frame, fd uint64, n uint32) uint64 {
	return u.recvPostAt(tf, fd, u.scratch+offDst, n)
}

// recvPostAt is recvPost into the buffer at va.
func (u *uproc) recvPostAt(tf *Frame, fd, va uint64, n uint32) uint64 {
	m := abi.Msg{Data: va, Cap: n, Fds: u.scratch + offRHs, FdCap: abi.MaxMessageHandles, Flags: abi.RecvPost}
	return svc(tf, abi.SysChanRecv, fd, u.putMsg(offRMsg, m), abi.DontWait)
}

// A posted buffer gets the next message straight from the sender: the
// bytes are there before any receive, the queue holds a header page only,
// and the receive naming the buffer takes it as it lies. Messages behind
// it queue as usual, in order; a receive without RecvPost posts nothing,
// and a posting's buffer that is too small is not used.
func TestChanPostedReceive(t *testing.T) {
	resetKernel(t, 1024)
	u, tf, before, a, b := postSetup(t)
	for i, n := range []int{1, kmsgFirst + 1, 40000, abi.MaxMessageBytes} {
		u.put(offDst, make([]byte, n))
		require.Equal(t, errno(EAGAIN), u.recvPost(tf, b, abi.MaxMessageBytes), "nothing queued: posted")
		d := pattern(n, i)
		posted := ReadIPCStats().Posted
		require.Zero(t, u.send(tf, a, d))
		require.Equal(t, posted+1, ReadIPCStats().Posted)
		require.True(t, bytes.Equal(d, u.get(u.scratch+offDst, n)), "%d bytes: in the buffer at the send", n)
		require.EqualValues(t, 1, ipcPages, "a header page only")
		require.Equal(t, uint32(epollIn|epollOut), poll(fdObject(b)), "readable")
		second := pattern(100, i+10)
		require.Zero(t, u.send(tf, a, second), "behind it: queued as usual")
		require.Equal(t, posted+1, ReadIPCStats().Posted)

		u.put(offDst, []byte{0xee}) // a receive naming the buffer copies nothing
		require.Zero(t, u.recvPost(tf, b, abi.MaxMessageBytes))
		data, fds, reply := u.received()
		want := append([]byte{0xee}, d[1:]...)
		require.True(t, bytes.Equal(want, data), "%d bytes: taken as it lies", n)
		require.Empty(t, fds)
		require.Equal(t, int32(-1), reply)
		require.Equal(t, uint32(abi.RecvMore), u.getMsg(u.scratch+offRMsg).Flags)
		r, _, _, _ := u.recv(tf, b, abi.DontWait)
		require.Zero(t, r)
		data, _, _ = u.received()
		require.Equal(t, second, data)
		require.Zero(t, ipcPages)
	}
	// A receive without RecvPost, or with a buffer too small, ends it.
	require.Equal(t, errno(EAGAIN), u.recvPost(tf, b, 100))
	r, _, _, _ := u.recv(tf, b, abi.DontWait)
	require.Equal(t, errno(EAGAIN), r)
	posted := ReadIPCStats().Posted
	require.Zero(t, u.send(tf, a, []byte("ordinary")))
	require.Equal(t, posted, ReadIPCStats().Posted, "the plain receive ended the posting")
	_, _, _, _ = u.recv(tf, b, abi.DontWait)
	require.Equal(t, errno(EAGAIN), u.recvPost(tf, b, 10))
	require.Zero(t, u.send(tf, a, make([]byte, 11)))
	require.Equal(t, posted, ReadIPCStats().Posted, "11 bytes do not fit 10")
	r, _, _, _ = u.recv(tf, b, abi.DontWait)
	require.Zero(t, r)
	// A message with descriptors is not posted.
	c, d := chanPair(t, u, tf, oNONBLOCK)
	require.Equal(t, errno(EAGAIN), u.recvPost(tf, b, abi.MaxMessageBytes))
	require.Zero(t, u.send(tf, a, []byte("carrying"), int32(c)))
	require.Equal(t, posted, ReadIPCStats().Posted)
	r, _, _, _ = u.recv(tf, b, abi.DontWait)
	require.Zero(t, r)
	_, fds, _ := u.received()
	require.Len(t, fds, 1)
	for _, fd := range []uint64{a, b, uint64(fds[0]), d} {
		require.Zero(t, svc(tf, sysClose, fd))
	}
	require.Zero(t, ipcPages)
	require.Equal(t, before, TakeCensus())
}

// Several buffers posted fill in order while only posted messages are
// queued; the poster's receive names whatever buffer and is told where
// its message lies (Msg.Data); an ordinary message behind them is copied
// into the buffer the receive names, whose posting that ends; a posting
// whose buffer went away (unmapped) is not used, and the message queues
// as usual.
func TestChanPostedOtherBufferAndUnmapped(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, oNONBLOCK)
	d := pattern(3*pageSize+5, 1)
	bufs := []uint64{u.scratch + offDst, u.scratch + offDst + 5*pageSize, u.scratch + offDst + 10*pageSize}
	for _, va := range append(bufs, bufs[0]) { // the first twice: posted once
		require.Equal(t, errno(EAGAIN), u.recvPostAt(tf, b, va, 5*pageSize))
	}
	require.EqualValues(t, 3, objs[fdObject(b)].npost)
	msgs := [][]byte{d, pattern(100, 2), pattern(5*pageSize, 3), pattern(7, 4)}
	for _, m := range msgs {
		require.Zero(t, u.send(tf, a, m))
	}
	require.EqualValues(t, 3, ReadIPCStats().Posted, "three buffers, three messages")
	for i, va := range bufs {
		require.True(t, bytes.Equal(msgs[i], u.get(va, len(msgs[i]))), "message %d in buffer %d at the send", i, i)
	}
	other := u.scratch + offSrc // another buffer: the send's
	for i, want := range msgs {
		u.put(offSrc, make([]byte, 16))
		m := abi.Msg{Data: other, Cap: abi.MaxMessageBytes, Flags: abi.RecvPost}
		require.Zero(t, svc(tf, abi.SysChanRecv, b, u.putMsg(offRMsg, m), abi.DontWait))
		got := u.getMsg(u.scratch + offRMsg)
		require.EqualValues(t, len(want), got.Len)
		if i < len(bufs) {
			require.Equal(t, bufs[i], got.Data, "message %d: where it lies", i)
		} else {
			require.Equal(t, other, got.Data, "the ordinary one: copied into the buffer named")
		}
		require.True(t, bytes.Equal(want, u.get(got.Data, len(want))), "message %d", i)
	}
	require.Zero(t, objs[fdObject(b)].npost)

	// Unmapped: the message goes to the queue; the receive still works.
	va := svc(tf, sysMmap, 0, 4*pageSize, protRW, mapPrivate|mapAnonymous, ^uint64(0), 0)
	m := abi.Msg{Data: va, Cap: 4 * pageSize, Flags: abi.RecvPost}
	require.Equal(t, errno(EAGAIN), svc(tf, abi.SysChanRecv, b, u.putMsg(offRMsg, m), abi.DontWait))
	require.Zero(t, svc(tf, sysMunmap, va, 4*pageSize))
	posted := ReadIPCStats().Posted
	require.Zero(t, u.send(tf, a, d))
	require.Equal(t, posted, ReadIPCStats().Posted)
	r, _, _, _ := u.recv(tf, b, abi.DontWait)
	require.Zero(t, r)
	got, _, _ := u.received()
	require.True(t, bytes.Equal(d, got))
	require.Zero(t, ipcPages)
}

// Posting across processes: the server's buffer gets the client's bytes.
// When the poster lets go of the endpoint with a posted message still
// queued (closes a duplicate, sends the descriptor away, exits), the
// bytes go back into message pages: the next holder receives them
// intact though the poster's buffer changes after.
func TestChanPostedUnpost(t *testing.T) {
	resetKernel(t, 2048)
	u, tf, before, a, b := postSetup(t)
	srv := u.newChild(chanScratchPages)
	ob := fdObject(b)
	getObject(ob)
	installFd(srv.p, 5, ob, false)
	require.Zero(t, svc(tf, sysClose, b))
	d := pattern(20000, 7)

	// Across processes.
	switchTo(t, tf, srv.main)
	require.Equal(t, errno(EAGAIN), srv.recvPost(tf, 5, abi.MaxMessageBytes))
	switchTo(t, tf, u.main)
	require.Zero(t, u.send(tf, a, d))
	require.True(t, bytes.Equal(d, srv.get(srv.scratch+offDst, len(d))), "in the server's buffer")
	switchTo(t, tf, srv.main)
	require.Zero(t, srv.recvPost(tf, 5, abi.MaxMessageBytes))
	got, _, _ := srv.received()
	require.True(t, bytes.Equal(d, got))

	// Another holder's receive gets a copy of the poster's message.
	require.Equal(t, errno(EAGAIN), srv.recvPost(tf, 5, abi.MaxMessageBytes))
	switchTo(t, tf, u.main)
	getObject(ob) // u holds the receiving end too
	installFd(u.p, 9, ob, false)
	require.Zero(t, u.send(tf, a, d))
	u.put(offDst, make([]byte, len(d)))
	r0, _, _, _ := u.recv(tf, 9, abi.DontWait)
	require.Zero(t, r0)
	got, _, _ = u.received()
	require.True(t, bytes.Equal(d, got), "copied from the server's buffer")
	require.Zero(t, svc(tf, sysClose, 9))
	switchTo(t, tf, srv.main)

	// Closing a duplicate: the message is copied back; the buffer is free.
	dup := svc(tf, sysDup, 5)
	require.Equal(t, errno(EAGAIN), srv.recvPost(tf, 5, abi.MaxMessageBytes))
	switchTo(t, tf, u.main)
	require.Zero(t, u.send(tf, a, d))
	switchTo(t, tf, srv.main)
	unposted := ReadIPCStats().Unposted
	require.Zero(t, svc(tf, sysClose, 5))
	require.Equal(t, unposted+1, ReadIPCStats().Unposted)
	srv.put(offDst, make([]byte, len(d))) // the buffer reused
	r, _, _, _ := srv.recv(tf, dup, abi.DontWait)
	require.Zero(t, r)
	got, _, _ = srv.received()
	require.True(t, bytes.Equal(d, got), "intact")

	// Sending the descriptor away: the receiver of it gets the message.
	c, e := chanPair(t, srv, tf, oNONBLOCK)
	require.Equal(t, errno(EAGAIN), srv.recvPost(tf, dup, abi.MaxMessageBytes))
	switchTo(t, tf, u.main)
	require.Zero(t, u.send(tf, a, d))
	switchTo(t, tf, srv.main)
	require.Zero(t, srv.send(tf, c, []byte("take it"), int32(dup)))
	require.Equal(t, unposted+2, ReadIPCStats().Unposted)
	srv.put(offDst, make([]byte, len(d)))
	r, _, _, _ = srv.recv(tf, e, abi.DontWait)
	require.Zero(t, r)
	_, fds, _ := srv.received()
	require.Len(t, fds, 1)
	r, _, _, _ = srv.recv(tf, uint64(fds[0]), abi.DontWait)
	require.Zero(t, r)
	got, _, _ = srv.received()
	require.True(t, bytes.Equal(d, got), "intact in the new holder")

	// Exiting with a posted message queued: everything comes back.
	require.Equal(t, errno(EAGAIN), srv.recvPost(tf, uint64(fds[0]), abi.MaxMessageBytes))
	switchTo(t, tf, u.main)
	require.Zero(t, u.send(tf, a, d))
	exitProcess(srv.p, 0, false)
	reapAll(t)
	switchTo(t, tf, u.main)
	require.Equal(t, uint64(srv.pid), svc(tf, sysWait4, uint64(srv.pid), 0, 0, 0))
	require.Zero(t, svc(tf, sysClose, a))
	require.Zero(t, ipcPages)
	require.Equal(t, before, TakeCensus())
}

// sendGather sends the pieces (put one after the other from offSrc, with
// a gap between them) as one SendGather message and returns the result.
func (u *uproc) sendGather(tf *Frame, fd uint64, pieces ...[]byte) uint64 {
	var vec []abi.IOVec
	off, total := uint64(offSrc), 0
	for _, p := range pieces {
		vec = append(vec, abi.IOVec{Base: u.put(off, p), Len: uint64(len(p))})
		off += uint64(len(p)) + 100
		total += len(p)
	}
	va := u.scratch + offHs
	for i, v := range vec {
		u.put(offHs+uint64(i)*abi.IOVecSize, bytesOfStruct(&v))
	}
	m := abi.Msg{Data: va, Cap: uint32(len(vec)), Len: uint32(total)}
	return svc(tf, abi.SysChanSend, fd, u.putMsg(offMsg, m), abi.SendGather|abi.SendDontWait)
}

// A SendGather message is its pieces joined, whichever way it goes:
// queued (across the message's page layout), posted, or handed to a
// blocked receiver. Bad vectors are refused and nothing is sent.
func TestChanSendGather(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, oNONBLOCK)
	cases := [][][]byte{
		{},
		{[]byte("one")},
		{[]byte("hd"), pattern(kmsgFirst, 1), pattern(3*pageSize+7, 2), []byte("tail")},
		{pattern(1, 3), {}, pattern(pageSize, 4), {}, pattern(5, 5), pattern(9000, 6), pattern(17, 7), pattern(2, 8)},
	}
	for post := range 2 {
		for i, pieces := range cases {
			want := bytes.Join(pieces, nil)
			if post == 1 {
				require.Equal(t, errno(EAGAIN), u.recvPost(tf, b, abi.MaxMessageBytes))
			}
			posted := ReadIPCStats().Posted
			require.Zero(t, u.sendGather(tf, a, pieces...), "case %d", i)
			require.Equal(t, posted+uint64(post), ReadIPCStats().Posted)
			r, _, _, _ := u.recv(tf, b, abi.DontWait)
			require.Zero(t, r)
			got, _, _ := u.received()
			require.True(t, bytes.Equal(want, got), "case %d, posted %d: %d bytes joined", i, post, len(want))
		}
	}
	// Refused: a total that is not the pieces', too many pieces, a piece
	// outside the process, the vector outside it.
	vec := abi.IOVec{Base: u.put(offSrc, []byte("abc")), Len: 3}
	u.put(offHs, bytesOfStruct(&vec))
	for _, c := range []struct {
		m    abi.Msg
		want uint64
	}{
		{abi.Msg{Data: u.scratch + offHs, Cap: 1, Len: 4}, errno(EINVAL)},
		{abi.Msg{Data: u.scratch + offHs, Cap: abi.MaxGather + 1, Len: 3}, errno(EINVAL)},
		{abi.Msg{Data: 0x10, Cap: 1, Len: 3}, errno(EFAULT)},
	} {
		require.Equal(t, c.want, svc(tf, abi.SysChanSend, a, u.putMsg(offMsg, c.m), abi.SendGather))
	}
	bad := abi.IOVec{Base: 0x10, Len: 3}
	u.put(offHs, bytesOfStruct(&bad))
	require.Equal(t, errno(EFAULT), svc(tf, abi.SysChanSend, a, u.putMsg(offMsg, abi.Msg{Data: u.scratch + offHs, Cap: 1, Len: 3}), abi.SendGather))
	require.Zero(t, objs[fdObject(b)].mn, "nothing sent")

	// Handed to a blocked receiver.
	c, d := chanPair(t, u, tf, 0)
	other := u.spawnThread(tf, u.top(chanScratchPages)-8*pageSize)
	main := cur
	u.recv(tf, d, abi.NoDeadline)
	requireBlocked(t, main, waitChanRecv)
	switchTo(t, tf, other)
	pieces := cases[2]
	require.Zero(t, u.sendGather(tf, c, pieces...))
	requireWoken(t, main, 0)
	got, _, _ := u.received()
	require.True(t, bytes.Equal(bytes.Join(pieces, nil), got), "handed off joined")
}

// An execve ends the process's postings before its image goes, and a
// posted message still queued for it is copied back into message pages
// while the old image still holds it: the new image's memory is never
// written by a send meant for the old one.
func TestChanPostedExec(t *testing.T) {
	resetKernel(t, 1024)
	u, tf := newUserFrame(t, chanScratchPages)
	a, b := chanPair(t, u, tf, oNONBLOCK)
	o := fdObject(b)
	d := pattern(10000, 9)
	require.Equal(t, errno(EAGAIN), u.recvPost(tf, b, abi.MaxMessageBytes))
	require.Zero(t, u.send(tf, a, d))
	require.True(t, msgAt(objs[o].mhead).posted)
	_, d2 := chanPair(t, u, tf, oNONBLOCK) // a posting with nothing in it
	require.Equal(t, errno(EAGAIN), u.recvPostAt(tf, d2, u.scratch+offDst+5*pageSize, abi.MaxMessageBytes))
	o2 := fdObject(d2)
	require.EqualValues(t, 1, objs[o2].npost)

	svc(tf, sysExecve, u.put(0, []byte("/bin/y\x00")), 0, 0)
	call := NextServiceCall()
	_, err := ExecBegin(call)
	require.NoError(t, err)
	require.Zero(t, objs[o].npost)
	require.Zero(t, objs[o2].npost, "no posting survives the image")
	km := objs[o].mhead
	require.NotZero(t, km)
	k := msgAt(km)
	require.False(t, k.posted, "copied back")
	var got []byte
	for off := uint32(0); off < k.len; {
		ch := msgChunk(km, off)
		got = append(got, ch...)
		off += uint32(len(ch))
	}
	require.True(t, bytes.Equal(d, got), "the bytes the old image held")
	require.EqualValues(t, 1, ReadIPCStats().Unposted)
	require.NoError(t, ExecCommit(call, "y", 0x40_0000, 0x7000))
}

// FuzzChanPosting drives a sender and a receiving process through random
// sequences of posting receives (into any of four buffers), plain
// receives, sends of every size (some gathered, some carrying a
// descriptor) and the receiver letting go of a duplicate of its end with
// posted messages queued. Every message must arrive once, in order and
// intact wherever the kernel says it lies, and after a drain and the
// receiver's exit the kernel's census must equal the one before.
func FuzzChanPosting(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 1, 5, 0, 1, 1, 3, 0, 2, 1, 4, 2, 0})
	f.Add([]byte{0, 1, 0, 2, 1, 3, 1, 4, 1, 5, 3, 0, 2, 0, 2, 2, 2})
	f.Add([]byte{4, 0, 1, 1, 0, 2, 0, 3, 1, 0, 3, 1, 5, 1, 5, 0, 2})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 200 {
			ops = ops[:200]
		}
		resetKernel(t, 2048)
		u, tf, before, a, b := postSetup(t)
		p1, p2 := pipeFds(t, u, tf, 0)
		const srvPages = 100
		srv := u.newChild(srvPages)
		ob := fdObject(b)
		getObject(ob)
		installFd(srv.p, 5, ob, false)
		require.Zero(t, svc(tf, sysClose, b))
		switchTo(t, tf, srv.main)
		srv.put(0, make([]byte, srvPages*pageSize))
		rfd := uint64(5)
		bufs := []uint64{}
		for k := range 4 {
			bufs = append(bufs, srv.scratch+uint64(20+19*k)*pageSize)
		}
		sizes := []int{0, 1, 100, 5000, 20000, abi.MaxMessageBytes}
		type sent struct {
			data []byte
			fds  bool
		}
		var queue []sent
		seq := 0
		// receive checks what a receive on the server's end got.
		receive := func(va uint64, flags uint32) {
			m := abi.Msg{Data: va, Cap: abi.MaxMessageBytes, Fds: srv.scratch + offRHs, FdCap: abi.MaxMessageHandles, Flags: flags}
			r := svc(tf, abi.SysChanRecv, rfd, srv.putMsg(offRMsg, m), abi.DontWait)
			if r == errno(EAGAIN) {
				require.Empty(t, queue, "nothing queued")
				return
			}
			require.Zero(t, r)
			require.NotEmpty(t, queue, "a message out of nowhere")
			got := srv.getMsg(srv.scratch + offRMsg)
			want := queue[0]
			queue = queue[1:]
			require.EqualValues(t, len(want.data), got.Len)
			require.True(t, bytes.Equal(want.data, srv.get(got.Data, int(got.Len))), "message intact where it lies")
			require.EqualValues(t, map[bool]uint32{true: 1}[want.fds], got.NFds)
			for i := uint32(0); i < got.NFds; i++ {
				require.Zero(t, svc(tf, sysClose, uint64(srv.i32(srv.scratch+offRHs+4*uint64(i)))))
			}
		}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%6, int(ops[i+1])
			switch op {
			case 0: // a posting receive
				receive(bufs[arg%len(bufs)], abi.RecvPost)
			case 1, 4, 5: // a send: plain, carrying a descriptor, gathered
				switchTo(t, tf, u.main)
				d := pattern(sizes[arg%len(sizes)], seq)
				var r uint64
				switch op {
				case 1:
					r = u.send(tf, a, d)
				case 4:
					r = u.send(tf, a, d, int32(p1)|abi.FdCopy)
				case 5:
					r = u.sendGather(tf, a, d[:len(d)/3], d[len(d)/3:])
				}
				if r == 0 {
					queue = append(queue, sent{d, op == 4})
					seq++
				} else {
					require.Equal(t, errno(EAGAIN), r, "a full queue is the only refusal")
				}
				switchTo(t, tf, srv.main)
			case 2: // a plain receive
				receive(srv.scratch+offDst-2*pageSize+uint64(arg), 0)
			case 3: // let go of a duplicate: the end moves to a new descriptor
				d := svc(tf, sysDup, rfd)
				require.Less(t, d, uint64(maxFds))
				require.Zero(t, svc(tf, sysClose, rfd))
				rfd = d
			}
		}
		for len(queue) > 0 {
			receive(srv.scratch+offDst, 0)
		}
		receive(srv.scratch+offDst, 0)
		exitProcess(srv.p, 0, false)
		reapAll(t)
		switchTo(t, tf, u.main)
		require.Equal(t, uint64(srv.pid), svc(tf, sysWait4, uint64(srv.pid), 0, 0, 0))
		for _, fd := range []uint64{a, uint64(p1), uint64(p2)} {
			require.Zero(t, svc(tf, sysClose, fd))
		}
		require.Zero(t, ipcPages)
		require.Equal(t, before, TakeCensus())
	})
}
