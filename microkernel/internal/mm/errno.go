package mm

// Errno is the result of an mm operation: OK or one of the Err* values. It
// is a plain integer so trap-context code can return and compare it without
// interfaces; it implements error for ordinary code (convert only when not
// OK: a nil error is not the same as Errno(OK) in an interface).
type Errno uint8

// Result codes.
const (
	OK              Errno = iota
	ErrNoMemory           // no free physical page (or run of pages)
	ErrAlign              // address or size not aligned as required
	ErrRange              // address or size outside what the object manages
	ErrExists             // the virtual page is already mapped
	ErrNotMapped          // nothing mapped at the address
	ErrBlock              // a block mapping covers the address; blocks are not split
	ErrBadAttr            // attribute bits overlap the address or type fields
	ErrDoubleFree         // the page is already free
	ErrNotAllocated       // the page was never handed out (reserved or metadata)
	ErrFull               // a fixed-capacity table is full
	ErrInvalid            // bad argument (zero length, overflow, uninitialized object)
	ErrBorrowed           // the address lies in a table shared from another PageTable
	ErrNoVMA              // no region covers the address
	ErrAccess             // the region's protection forbids the access
	ErrBatchFull          // a FreeBatch filled up: flush the TLB, release it and resume
	ErrLimit              // the address space's memory limit is reached
	numErrno
)

var errnoText = [numErrno]string{
	OK:              "ok",
	ErrNoMemory:     "mm: out of physical memory",
	ErrAlign:        "mm: misaligned address or size",
	ErrRange:        "mm: address out of range",
	ErrExists:       "mm: already mapped",
	ErrNotMapped:    "mm: not mapped",
	ErrBlock:        "mm: address covered by a block mapping",
	ErrBadAttr:      "mm: invalid descriptor attributes",
	ErrDoubleFree:   "mm: page already free",
	ErrNotAllocated: "mm: page not allocatable",
	ErrFull:         "mm: table full",
	ErrInvalid:      "mm: invalid argument",
	ErrBorrowed:     "mm: address in a shared (borrowed) table",
	ErrNoVMA:        "mm: no mapping region at address",
	ErrAccess:       "mm: access not permitted by region protection",
	ErrBatchFull:    "mm: free batch full (resume after TLB invalidation)",
	ErrLimit:        "mm: address space memory limit reached",
}

// Error returns the text of e.
func (e Errno) Error() string {
	if e < numErrno {
		return errnoText[e]
	}
	return "mm: unknown error"
}

// Err returns e as an error, nil for OK.
func (e Errno) Err() error {
	if e == OK {
		return nil
	}
	return e
}
