package libipc

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Empty is the body of ops that carry no data. It encodes as an empty msgpack
// map (0x80); a nil body encodes as msgpack nil (0xc0). Both decode into
// *Empty.
type Empty struct{}

// ErrorBody is the body of a KindError reply: an errno-like code and a
// human-readable message. On the wire: {"code": uint, "msg": string}.
type ErrorBody struct {
	Code Code   `msgpack:"code"`
	Msg  string `msgpack:"msg"`
}

// appendWriter lets the msgpack encoder append to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

// encState is a pooled encoder bound to its own appendWriter, so encoding a
// body allocates nothing beyond what the msgpack library needs for v itself.
type encState struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var encPool = sync.Pool{New: func() any {
	s := &encState{enc: msgpack.NewEncoder(nil)}
	s.enc.ResetWriter(&s.w)
	s.enc.UseCompactInts(true)
	return s
}}

// decState is a pooled strict decoder reading from its own bytes.Reader.
type decState struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any {
	s := &decState{dec: msgpack.NewDecoder(nil)}
	s.dec.ResetReader(&s.r)
	s.dec.DisallowUnknownFields(true)
	return s
}}

// BodyAppender is a body that writes its own encoding (a hot message's
// hand-written encoder, with libipc/mpwrite): byte for byte what the
// general encoder writes for it, which its tests check.
type BodyAppender interface {
	AppendMsgpack(dst []byte) []byte
}

// Piece is bytes an encoder leaves where they lie instead of copying them
// into the encoding: they belong at offset Off of it (AppendMsgpackGather).
type Piece struct {
	Off  int
	Data []byte
}

// BodyGatherer is a BodyAppender that can leave its large byte fields out
// of its encoding: AppendMsgpackGather appends the encoding without their
// bytes and appends to pieces where each goes (offsets into the returned
// slice, in order). The encoding with the pieces put back is exactly
// AppendMsgpack's. Over a transport that sends from several pieces (the
// kernel's, abi.SendGather) the bytes then go from where they lie to the
// receiver, one copy fewer.
type BodyGatherer interface {
	BodyAppender
	AppendMsgpackGather(dst []byte, pieces []Piece) ([]byte, []Piece)
}

// JoinPieces returns b with pieces put back at their offsets (appended to
// dst): what was left out of an encoding, joined.
func JoinPieces(dst, b []byte, pieces []Piece) []byte {
	at := 0
	for _, p := range pieces {
		dst = append(append(dst, b[at:p.Off]...), p.Data...)
		at = p.Off
	}
	return append(dst, b[at:]...)
}

// BodyParser is a body that reads the usual encoding of itself on its own
// (a hot message's hand-written decoder, with libipc/mpread): ParseMsgpack
// reports false for anything else, and DecodeBody then decodes the general
// way (which also answers what is malformed); a true result is what the
// general decoder gives for the same body, which its fuzz target checks.
// What it keeps is copied, as the general decoder does.
type BodyParser interface {
	ParseMsgpack(body []byte) bool
}

// AppendBody appends the msgpack encoding of v to dst. Integers use their
// shortest form; structs encode as maps keyed by field name (or msgpack tag).
// A BodyAppender encodes itself.
func AppendBody(dst []byte, v any) (out []byte, err error) {
	if a, ok := v.(BodyAppender); ok {
		return a.AppendMsgpack(dst), nil
	}
	return AppendBodyGeneral(dst, v)
}

// AppendBodyGeneral is AppendBody through the msgpack library even for a
// BodyAppender: what a hand-written encoder must match byte for byte
// (its tests compare the two).
func AppendBodyGeneral(dst []byte, v any) (out []byte, err error) {
	s := encPool.Get().(*encState)
	s.w.b = dst
	defer func() {
		if p := recover(); p != nil { // a type the library cannot encode
			out, err = dst, fmt.Errorf("libipc: encode %T: %v", v, p)
		}
		s.w.b = nil
		encPool.Put(s)
	}()
	if err := s.enc.Encode(v); err != nil {
		return dst, fmt.Errorf("libipc: encode %T: %w", v, err)
	}
	return s.w.b, nil
}

// AppendMessage appends a whole message, envelope h then body, to dst. It
// fails with an error wrapping ErrTooLarge if the message would exceed
// MaxMessageSize.
func AppendMessage(dst []byte, h Header, body any) ([]byte, error) {
	start := len(dst)
	dst = AppendHeader(dst, h)
	dst, err := AppendBody(dst, body)
	if err != nil {
		return dst[:start], err
	}
	if len(dst)-start > MaxMessageSize {
		return dst[:start], fmt.Errorf("libipc: encode %v: %d bytes: %w", h.Op, len(dst)-start, ErrTooLarge)
	}
	return dst, nil
}

// CheckBody verifies that body is exactly one complete, well-formed msgpack
// value within the nesting bound, with nothing after it. Offsets in the
// returned *FrameError are relative to body.
func CheckBody(body []byte) error {
	if len(body) > MaxMessageSize {
		return &FrameError{Reason: ReasonTooLarge, Offset: MaxMessageSize}
	}
	end, r := scanValue(body, 0, 0)
	if r != 0 {
		return &FrameError{Reason: r, Offset: end}
	}
	if end != len(body) {
		return &FrameError{Reason: ReasonTrailing, Offset: end}
	}
	return nil
}

// DecodeBody strictly decodes body into v (a pointer): the body must pass
// CheckBody, match v's types, and name no field v lacks. If v is nil the body
// is only checked. Errors are *FrameError; the decoder never panics. A
// BodyParser that takes body is done without the general decoder.
func DecodeBody(body []byte, v any) (err error) {
	if p, ok := v.(BodyParser); ok && len(body) <= MaxMessageSize && p.ParseMsgpack(body) {
		return nil
	}
	return DecodeBodyGeneral(body, v)
}

// DecodeBodyGeneral is DecodeBody through the strict scanner and the
// msgpack library even for a BodyParser: what a hand-written parser's
// true result must equal (its fuzz target compares the two).
func DecodeBodyGeneral(body []byte, v any) (err error) {
	if err := CheckBody(body); err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	s := decPool.Get().(*decState)
	s.r.Reset(body)
	defer func() {
		if p := recover(); p != nil {
			err = &FrameError{Reason: ReasonWrongType, Offset: len(body) - s.r.Len(),
				Err: fmt.Errorf("decoder panic: %v", p)}
		}
		s.r.Reset(nil)
		decPool.Put(s)
	}()
	if err := s.dec.Decode(v); err != nil {
		return &FrameError{Reason: ReasonWrongType, Offset: len(body) - s.r.Len(), Err: err}
	}
	return nil
}

// DecodeMessage parses msg's envelope and strictly decodes its body into v
// (see ParseHeader and DecodeBody). On a body error the header is still
// returned, and the *FrameError carries the op and an offset into msg.
func DecodeMessage(msg []byte, v any) (Header, error) {
	h, body, err := ParseHeader(msg)
	if err != nil {
		return h, err
	}
	if err := DecodeBody(body, v); err != nil {
		fe := err.(*FrameError)
		fe.Op = h.Op
		fe.Offset += len(msg) - len(body)
		return h, fe
	}
	return h, nil
}
