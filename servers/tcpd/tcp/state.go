package tcp

// State is a connection's state in RFC 9293's diagram (section 3.3.2).
type State uint8

// The states. A Listener is in Listen; a Conn in any other.
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

// String returns the state's name as RFC 9293 spells it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// synchronized reports whether the state is one RFC 9293 calls
// synchronized (both SYNs seen): ESTABLISHED onwards.
func (s State) synchronized() bool { return s >= Established }

// Ready is a set of readiness conditions (Conn.Readiness), for a server
// loop deciding which waiters to wake.
type Ready uint8

// Readiness conditions.
const (
	// Readable: Read will not block (data, end of stream or an error).
	Readable Ready = 1 << iota
	// Writable: Write will not block (room in the send buffer of a
	// connected connection, or an error to return).
	Writable
	// ReadClosed: the peer's FIN arrived; Read returns io.EOF once the
	// buffered data is read.
	ReadClosed
	// Errored: the connection failed (Err is not nil).
	Errored
	// Done: the connection is CLOSED; nothing more will happen on it.
	Done
)
