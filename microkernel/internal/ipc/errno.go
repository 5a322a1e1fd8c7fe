package ipc

import "strconv"

// Errno is the result of an IPC operation: OK or a Linux errno number, so
// the syscall layer returns -Errno to user space unchanged and libipc's
// Code (which uses the same numbers) can wrap it. It implements error for
// ordinary code; convert with Err so that OK becomes a nil error.
type Errno uint16

// Result codes. The numbers are Linux arm64 errno values.
const (
	OK          Errno = 0
	EPERM       Errno = 1   // dup/transfer asked for rights the handle does not hold
	ENOENT      Errno = 2   // no such key in a wait set
	EBADF       Errno = 9   // not a live handle of this table (closed, stale generation, never issued)
	EAGAIN      Errno = 11  // would block: queue full (send) or empty (non-blocking receive)
	ENOMEM      Errno = 12  // out of kernel memory for the Object
	EACCES      Errno = 13  // the handle lacks a right the operation needs
	EBUSY       Errno = 16  // the resource is taken (INTID already bound, too many blocked receivers)
	EEXIST      Errno = 17  // key already in the wait set
	EINVAL      Errno = 22  // bad argument (duplicate handle in one message, channel sent through itself)
	EMFILE      Errno = 24  // the handle table is full
	ENOSPC      Errno = 28  // a bounded per-Object table (wait set items) is full
	EPIPE       Errno = 32  // send: the peer endpoint is closed (or the caller went away, for a reply)
	EMSGSIZE    Errno = 90  // message over the byte/handle bound, or larger than the receiver's buffer
	EPROTOTYPE  Errno = 91  // the handle names an Object of another type
	ECONNRESET  Errno = 104 // receive: the peer is closed and every queued message was read
	ETIMEDOUT   Errno = 110 // the wait's deadline passed
	ECANCELED   Errno = 125 // the waiting thread was cancelled (its context ended: process killed)
	maxErrnoVal Errno = 126
)

var errnoText = map[Errno]string{
	OK:         "ok",
	EPERM:      "operation not permitted",
	ENOENT:     "no such entry",
	EBADF:      "bad handle",
	EAGAIN:     "would block",
	ENOMEM:     "out of memory",
	EACCES:     "handle lacks the right",
	EBUSY:      "busy",
	EEXIST:     "already exists",
	EINVAL:     "invalid argument",
	EMFILE:     "handle table full",
	ENOSPC:     "no space in the Object",
	EPIPE:      "peer closed",
	EMSGSIZE:   "message too large",
	EPROTOTYPE: "wrong Object type",
	ECONNRESET: "peer closed (queue drained)",
	ETIMEDOUT:  "timed out",
	ECANCELED:  "cancelled",
}

// Error returns "ipc: " and the text of e.
func (e Errno) Error() string {
	if s, ok := errnoText[e]; ok {
		return "ipc: " + s
	}
	return "ipc: errno " + strconv.Itoa(int(e))
}

// Err returns e as an error, nil for OK.
func (e Errno) Err() error {
	if e == OK {
		return nil
	}
	return e
}
