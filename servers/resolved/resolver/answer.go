package resolver

import (
	"encoding/binary"

	"armos/servers/resolved/dns"
)

// Answer answers a client's query message with the engine: reply is called
// once with the response, before Answer returns if the cache knows, else
// from a later Input or Tick. stream says the query came over a stream
// (TCP framing: answers up to 65,535 bytes); over datagrams an answer is at
// most 512 bytes, or the size the client's EDNS0 record advertises up to
// Config.UDPSize, and one that does not fit is sent empty with TC set (the
// client then asks again over a stream). Messages that are not queries are
// dropped, and counted, without a reply: shorter than a header, or with QR
// set. reply must not call back into the engine.
func (e *Engine) Answer(query []byte, stream bool, reply func([]byte)) {
	cc := &e.c.Clients
	cc.Queries++
	if len(query) < dns.HeaderLen {
		cc.DropShort++
		return
	}
	id := binary.BigEndian.Uint16(query)
	flags := dns.Flags(binary.BigEndian.Uint16(query[2:]))
	if flags.Has(dns.FlagQR) {
		cc.DropNotQry++
		return
	}
	resp := &dns.Message{ID: id, Flags: (dns.FlagQR | dns.FlagRA | flags&(dns.FlagRD|dns.FlagCD)).WithOpcode(flags.Opcode())}
	q, err := dns.Parse(query)
	switch {
	case err != nil || (flags.Opcode() == dns.OpcodeQuery && len(q.Questions) != 1):
		cc.FormErr++
		resp.Flags = resp.Flags.WithRCode(dns.RCodeFormatError)
		e.send(resp, dns.MaxUDPLen, reply)
		return
	case flags.Opcode() != dns.OpcodeQuery:
		cc.NotImp++
		resp.Flags = resp.Flags.WithRCode(dns.RCodeNotImplemented)
		e.send(resp, dns.MaxUDPLen, reply)
		return
	}
	limit := dns.MaxMessageLen
	size, edns := q.EDNS()
	if !stream {
		limit = dns.MaxUDPLen
		if edns {
			limit = int(min(max(size, dns.MaxUDPLen), e.cfg.UDPSize))
		}
	}
	if edns {
		resp.Additionals = []dns.RR{dns.NewOPT(e.cfg.UDPSize)}
	}
	qu := q.Questions[0]
	resp.Questions = q.Questions
	if qu.Class != dns.ClassINET {
		e.c.Lookups.Started++
		e.c.Lookups.NotImplemented++
		cc.NotImp++
		resp.Flags = resp.Flags.WithRCode(dns.RCodeNotImplemented)
		e.send(resp, limit, reply)
		return
	}
	e.Lookup(qu.Name, qu.Type, func(r Result) {
		switch r.RCode {
		case dns.RCodeServerFailure:
			cc.ServFail++
		case dns.RCodeNameError:
			cc.NXDomain++
		case dns.RCodeNotImplemented:
			cc.NotImp++
		}
		resp.Flags = resp.Flags.WithRCode(r.RCode)
		// Records owned by the name asked carry it as the client wrote it.
		for i := range r.Answer {
			if r.Answer[i].Name.EqualFold(qu.Name) {
				r.Answer[i].Name = qu.Name
			}
		}
		resp.Answers, resp.Authorities = r.Answer, r.Authority
		e.send(resp, limit, reply)
	})
}

// send packs resp and replies with it; what does not fit in limit goes
// out empty with TC set (RFC 2181 section 9).
func (e *Engine) send(resp *dns.Message, limit int, reply func([]byte)) {
	b, err := resp.Pack()
	if err == nil && len(b) > limit {
		e.c.Clients.TruncatedTC++
		resp.Flags |= dns.FlagTC
		resp.Answers, resp.Authorities = nil, nil
		b, err = resp.Pack()
	}
	if err != nil { // names and data come from Parse: cannot happen
		resp.Flags = resp.Flags.WithRCode(dns.RCodeServerFailure)
		resp.Answers, resp.Authorities, resp.Additionals = nil, nil, nil
		b, _ = resp.Pack()
	}
	e.c.Clients.Answered++
	reply(b)
}
