// Package dhcp parses and builds DHCP messages (RFC 2131) and their options
// (RFC 2132), including option overload into the file and sname fields
// (RFC 2131 section 4.1, RFC 2132 section 9.3) and long options split into
// several instances (RFC 3396). It is the wire layer of dhcpc, armos's
// DHCP client.
//
// Parse is strict and bounded: messages shorter than the fixed header and
// magic cookie or longer than MaxMessageLen are refused; every option's
// length is checked against its area; the option area must end with End;
// an overload option is honoured only in the options field (one found in
// file or sname would make the parser revisit an area: ErrOverloadLoop);
// the options this package knows (message type, addresses, times, MTU,
// parameter list, ...) must have their RFC 2132 length and sane values.
// Any violation is a *ParseError naming the area and option, wrapping one
// of the Err* values, so callers count drops per reason. Nothing panics on
// any input (FuzzParseMessage).
//
// A parsed Message keeps its options as an ordered list, the instances of
// each code concatenated (RFC 3396). Message.Marshal puts them all in the
// options field, splitting any longer than 255 bytes, and pads the message
// to the BOOTP minimum of 300 bytes (RFC 1542 section 2.1).
package dhcp
