// Package abi is the contract between the armos kernel and its programs for
// the calls armos adds to the Linux arm64 system-call ABI: numbers, argument
// structures, flags and bounds. The kernel (microkernel/internal/rt) and the
// user side (libipc/kipc) both import it, so the two cannot drift apart.
// docs/kernel-ipc.md explains every call.
package abi

// System-call numbers of the IPC calls (arguments in x0..x5, number in x8,
// result or -errno in x0, as for every Linux call).
const (
	// SysChanCreate (flags, *[2]int32 out, qlen) makes a channel and
	// returns its two ends as descriptors. flags: O_CLOEXEC, O_NONBLOCK;
	// qlen bounds each direction's queue (0: QueueLen, at most QueueLen).
	SysChanCreate = 510
	// SysChanSend (fd, *Msg, flags) queues a message for the peer.
	SysChanSend = 511
	// SysChanRecv (fd, *Msg, deadline) takes the next message.
	SysChanRecv = 512
	// SysChanCall (fd, *Call, deadline) sends Call.Req with a reply
	// capability and waits for the answer in Call.Rep.
	SysChanCall = 513
	// SysReply (replyfd, *Msg) answers a call and closes replyfd.
	SysReply = 514
	// SysHandleDup (fd, rights, flags) returns a new descriptor for the
	// same object with at most rights. flags: O_CLOEXEC.
	SysHandleDup = 515
	// SysHandleInfo (fd, *HandleInfo out) describes a descriptor.
	SysHandleInfo = 516
	// SysReplyRecv (replyfd, *Msg, fd, *Msg, deadline) is SysReply then
	// SysChanRecv in one call, a server's loop (replyfd -1: receive only).
	// The reply's own errno goes into the first Msg's Flags: EPIPE (the
	// caller stopped waiting) does not stop the receive, any other
	// failure is returned with nothing received. A blocked receive
	// retries as SysChanRecv: the call's registers are rewritten to be
	// one (x8 and x0..x2).
	SysReplyRecv = 517
	// SysShmCreate (size, flags) makes a shared-memory object of size
	// bytes (whole pages, zeroed; at most 2 MiB) and returns its
	// descriptor; mmap(addr, len, prot, MAP_SHARED, fd, off) maps it, in
	// as many processes as hold it. flags: O_CLOEXEC, ShmContiguous.
	SysShmCreate = 518
	// ShmContiguous (a SysShmCreate flag) asks for physically contiguous
	// pages, all allocated at once: what a device needs for a structure
	// larger than a page (a legacy virtqueue). At most ShmMaxContiguous
	// bytes; ENOMEM when no such run is free.
	ShmContiguous = 0x1
	// ShmMaxContiguous bounds a contiguous object (1 MiB: a NIC
	// driver's segmentation offload slots, 16 of 64 KiB, in one run).
	ShmMaxContiguous = 1 << 20
	// SysShmInfo (fd, *[n]uint64, n) returns the object's page count and
	// writes the physical address of its first n pages (for DMA).
	SysShmInfo = 519
	// SysDevIRQ (grant, flags) returns a descriptor for the interrupt of
	// the process's granted device grant (docs/devices.md). When the
	// device interrupts, the kernel masks the interrupt and the
	// descriptor becomes readable: read(8 bytes) returns how many
	// interrupts came since the last read (blocking, or EAGAIN when
	// non-blocking); write(8 bytes) acknowledges, unmasking it (after the
	// driver has cleared the device's own interrupt status). flags:
	// O_CLOEXEC, O_NONBLOCK.
	SysDevIRQ = 520
	// SysDevOpen (selector, flags) returns a device descriptor: the
	// first free device of virtio kind selector (1 net, 2 block, 4
	// rng...) when selector < DevSelectorAddr, else the device whose
	// registers are at physical address selector. Only a process the
	// kernel started (init) may open devices (EPERM); a device is open in
	// one descriptor at a time and never while granted on the kernel
	// command line (EBUSY). flags: O_CLOEXEC. The descriptor passes to
	// other processes like any other (exec, messages).
	SysDevOpen = 521
	// SysDevAttach (fd) makes the device of descriptor fd one of the
	// caller's grants and returns its grant number (for SysDevIRQ and the
	// dev_info/map/read/write calls). One live process at a time may have
	// a device attached (EBUSY); its end detaches it, and the descriptor's
	// holders may attach it again (a restarted driver).
	SysDevAttach = 522
	// SysProcList (*[n]ProcEntry, n) writes one ProcEntry per process
	// (the kernel, pid 0, first) into the caller's array and returns how
	// many processes there are (more than n: call again with room).
	SysProcList = 523
)

// ProcEntry is one process as SysProcList reports it (96 bytes).
type ProcEntry struct {
	Pid, PPid  int32
	State      uint32 // ProcLive, ProcDying, ProcZombie
	Threads    int32
	Pages      uint64 // pages its address space holds (data and tables)
	CPUNS      uint64 // time its threads ran (guest instructions under -icount shift=0)
	Syscalls   uint64
	Faults     uint64
	StartNS    uint64 // when it started, CLOCK_MONOTONIC
	Name       [16]byte
	ExitStatus uint32
	Killed     uint32 // 1: ended by a signal
	Handles    uint32 // descriptors it holds open
	Objects    uint32 // the kernel's entry only: objects open system-wide (channels, pipes, shm...)
	Queued     uint32 // messages waiting to be received on the channel ends it holds
	_          uint32
}

// ProcEntry states.
const (
	ProcLive   = 1
	ProcDying  = 2
	ProcZombie = 3
)

// DevSelectorAddr: SysDevOpen selectors from here on are addresses.
const DevSelectorAddr = 0x1000

// Deadlines of the blocking calls are CLOCK_MONOTONIC nanoseconds.
const (
	// NoDeadline waits as long as it takes.
	NoDeadline = 0
	// DontWait never blocks (the call fails with EAGAIN instead).
	DontWait = ^uint64(0)
)

// SysChanSend's flags.
const (
	// SendDontWait fails a send to a full queue with EAGAIN instead of
	// waiting, whatever the descriptor's O_NONBLOCK: the call never
	// blocks, so a Go caller may make it without entersyscall (which
	// wakes the runtime's sysmon from its idle sleep at every call).
	SendDontWait = 1
	// SendGather makes Msg.Data the address of Msg.Cap IOVec entries (at
	// most MaxGather) whose bytes, in order, are the message, and Msg.Len
	// their total: a header and a payload go from where they lie, not
	// first joined into one buffer by the sender.
	SendGather = 2
)

// MaxGather bounds the pieces of a SendGather message.
const MaxGather = 8

// IOVec is one piece of a SendGather message: Len bytes at Base.
type IOVec struct {
	Base, Len uint64
}

// IOVecSize is IOVec's size in bytes.
const IOVecSize = 16

// Msg describes one message in the caller's memory. For SysChanSend: Data
// and Len are the bytes, Fds and NFds the descriptors to transfer. For
// SysChanRecv (and the reply half of a Call): Data and Cap are the buffer,
// Fds and FdCap the room for descriptors; the kernel writes Len, NFds (the
// sizes received, or those needed when it fails with EMSGSIZE) and Reply
// (the reply capability of a call, or -1) and Flags (RecvMore or 0). In
// SysReplyRecv's reply Msg, the kernel writes the reply's errno into Flags
// (0: answered).
type Msg struct {
	Data  uint64
	Len   uint32
	Cap   uint32
	Fds   uint64
	NFds  uint32
	FdCap uint32
	Reply int32
	Flags uint32
}

// RecvPeek in a receive's Msg.Flags reports the next message's sizes
// (Len, NFds; Reply 0 for a call, -1 otherwise) without taking it: a
// readiness check. It waits like a receive when nothing is queued.
const RecvPeek = 1

// RecvMore is set by the kernel in the Msg.Flags of a successful receive
// when another receive would not wait: more messages stay queued on the
// endpoint after the one taken, or the peer is gone (the next receive
// fails with ECONNRESET once the queue is drained). It is cleared
// otherwise: then the next message, or the peer's close, comes after this
// receive, and epoll reports it, so the receiver can wait for readiness
// instead of trying another receive that would fail with EAGAIN. The
// kernel ignores it in a receive's flags on input, so a Msg can be
// reused as written back.
const RecvMore = 2

// RecvPost in a receive's Msg.Flags posts its buffer (Data, Cap) when the
// receive finds nothing queued and would not wait (abi.DontWait or a
// non-blocking descriptor; the receive still fails with EAGAIN), after
// those already posted (at most MaxPosted; a buffer posted already, or
// one more, is not posted again). While every message queued on the
// endpoint is a posted one, the next message sent to it that carries no
// descriptors and is not a call is copied by its sender straight into
// the oldest posted buffer (if it fits), one copy where a queued message
// takes two (into the kernel and out again). A receive by the poster
// takes such a message where it lies: it writes the buffer's address back
// in Msg.Data (another process's receive gets it copied into its own
// buffer). A receive with RecvPost that gets an ordinary message into a
// posted buffer ends that buffer's posting; a receive without RecvPost,
// or by another process, ends them all, and so does the poster closing or
// sending away a descriptor of the endpoint (a message already in one of
// its buffers is then copied back into the kernel's queue). A posted
// buffer belongs to the kernel until its posting ends or a receive
// returns it: the process must leave it alone.
const RecvPost = 4

// MaxPosted bounds the buffers posted on one endpoint at a time.
const MaxPosted = 4

// MsgSize is the size of Msg in memory.
const MsgSize = 40

// Call is SysChanCall's argument: the request and the reply buffers.
type Call struct {
	Req Msg
	Rep Msg
}

// HandleInfo is what SysHandleInfo reports.
type HandleInfo struct {
	Type   uint32 // TypeChannel, TypeReply, or TypeOther (pipes, files...)
	Rights uint32 // what this descriptor may do
	ID     uint64 // the object's identity, unique while it lives
	Peer   uint64 // a channel end: its peer's ID (0 once the peer is gone)
}

// Object types.
const (
	TypeOther   = 0
	TypeChannel = 1
	TypeReply   = 2
	TypeShm     = 3
)

// Rights of a descriptor. Every descriptor starts with RightsAll;
// SysHandleDup and transfers can only take rights away.
const (
	RightRecv     = 1 << 0 // receive (and read readiness)
	RightSend     = 1 << 1 // send, call, reply
	RightDup      = 1 << 2 // duplicate (dup, SysHandleDup, copy in a message)
	RightTransfer = 1 << 3 // move to another process in a message
	RightMap      = 1 << 4 // map shared memory, learn its physical pages
	RightsAll     = RightRecv | RightSend | RightDup | RightTransfer | RightMap
)

// FdCopy marks a descriptor in Msg.Fds to be copied into the message
// (the sender keeps it; needs RightDup) rather than moved (needs
// RightTransfer).
const FdCopy = 1 << 30

// Bounds of channels, the same as libipc's.
const (
	// MaxMessageBytes is the bytes of one message: room for the largest
	// legal UDP datagram (65,507 bytes) with its socket-protocol envelope,
	// so datagrams travel whole.
	MaxMessageBytes   = 72 << 10
	MaxMessageHandles = 4  // descriptors in one message
	QueueLen          = 64 // messages queued in one direction
	QueueBytes        = 256 << 10
)
