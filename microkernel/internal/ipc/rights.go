package ipc

import "strings"

// Rights is the mask of operations a handle allows. Rights only shrink:
// Dup and transfer can drop rights, never add them.
type Rights uint32

// Rights bits.
const (
	RightRead      Rights = 1 << iota // receive from a channel; read an Object's state
	RightWrite                        // send on a channel; reply; ack an interrupt; set a timer; edit a wait set
	RightDuplicate                    // Dup the handle
	RightTransfer                     // move the handle into a message
	RightWait                         // add the Object to a wait set
	RightMap                          // map a shared-memory Object

	// RightsAll is every right; new objects' first handles get the rights
	// that make sense for their type (see DefaultRights).
	RightsAll = RightRead | RightWrite | RightDuplicate | RightTransfer | RightWait | RightMap
)

var rightNames = [...]string{"read", "write", "dup", "transfer", "wait", "map"}

// String lists the rights, e.g. "read|write".
func (r Rights) String() string {
	if r == 0 {
		return "none"
	}
	var parts []string
	for i, n := range rightNames {
		if r&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if r&^RightsAll != 0 {
		parts = append(parts, "unknown")
	}
	return strings.Join(parts, "|")
}

// Type is the kind of kernel Object a handle names. There is one file per
// type in this package.
type Type uint8

// Object types.
const (
	TypeNone      Type = iota
	TypeChannel        // one endpoint of a channel (channel.go)
	TypeReply          // one-shot reply capability of a call (reply.go)
	TypeWaitSet        // wait-on-many port (waitset.go)
	TypeInterrupt      // a device interrupt (interrupt.go)
	TypeSharedMem      // a set of physical pages (shm.go)
	TypeTimer          // a one-shot deadline (timer.go)
	TypeProcess        // a process's exit event (process.go)
	numTypes
)

var typeNames = [numTypes]string{"none", "channel", "reply", "waitset", "interrupt", "shm", "timer", "process"}

// String returns the type's name.
func (t Type) String() string {
	if t < numTypes {
		return typeNames[t]
	}
	return "unknown"
}

// DefaultRights are the rights of the first handle to a new Object of type t.
func DefaultRights(t Type) Rights {
	switch t {
	case TypeChannel:
		return RightRead | RightWrite | RightDuplicate | RightTransfer | RightWait
	case TypeReply:
		return RightWrite | RightTransfer // one-shot: not duplicable
	case TypeWaitSet:
		return RightRead | RightWrite | RightDuplicate | RightTransfer
	case TypeInterrupt:
		return RightRead | RightWrite | RightTransfer | RightWait // one driver: not duplicable
	case TypeSharedMem:
		return RightRead | RightDuplicate | RightTransfer | RightMap
	case TypeTimer:
		return RightRead | RightWrite | RightDuplicate | RightTransfer | RightWait
	case TypeProcess:
		return RightRead | RightDuplicate | RightTransfer | RightWait
	}
	return 0
}
