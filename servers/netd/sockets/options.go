package sockets

import (
	"time"

	"armos/libipc"
	"armos/libsocket/sockproto"
	"armos/servers/netd/stack"
)

func (s *Service) opSetSockOpt(r *libipc.Request) {
	var req sockproto.SetSockOptReq
	if sk := s.target(r, &req, &req.Handle); sk != nil {
		s.answer(r, &sockproto.Empty{}, sk.setOption(req.Opt, req.Value))
	}
}

func (s *Service) opGetSockOpt(r *libipc.Request) {
	var req sockproto.GetSockOptReq
	if sk := s.target(r, &req, &req.Handle); sk != nil {
		v, e := sk.option(req.Opt)
		s.answer(r, &sockproto.GetSockOptResp{Value: v}, e)
	}
}

// boolOpt validates a boolean option value.
func boolOpt(v int64) (bool, sockproto.Errno) {
	if v != 0 && v != 1 {
		return false, sockproto.EINVAL
	}
	return v == 1, 0
}

func boolVal(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// setOption sets opt to v, on the endpoint too when bound.
func (sk *socket) setOption(opt sockproto.Opt, v int64) sockproto.Errno {
	switch opt {
	case sockproto.OptRecvQueue:
		if v < 1 || v > sockproto.MaxRecvQueue {
			return sockproto.EINVAL
		}
		if sk.ep != nil {
			if err := sk.ep.SetQueueLen(int(v)); err != nil {
				return errnoOf(err)
			}
		}
		sk.queueLen = int(v)
	case sockproto.OptBroadcast:
		on, e := boolOpt(v)
		if e != 0 {
			return e
		}
		sk.broadcast = on
		if sk.ep != nil {
			sk.ep.SetBroadcast(on)
		}
	case sockproto.OptRecvTimeout:
		if v < 0 || v > sockproto.MaxRecvTimeout {
			return sockproto.EINVAL
		}
		sk.recvTimeout = time.Duration(v)
	case sockproto.OptNonBlock:
		on, e := boolOpt(v)
		if e != 0 {
			return e
		}
		sk.nonBlock = on
	default:
		return sockproto.ENOPROTOOPT // unknown or read-only
	}
	return 0
}

// option reads opt.
func (sk *socket) option(opt sockproto.Opt) (int64, sockproto.Errno) {
	switch opt {
	case sockproto.OptRecvQueue:
		switch {
		case sk.ep != nil:
			return int64(sk.ep.QueueLen()), 0
		case sk.queueLen > 0:
			return int64(sk.queueLen), 0
		}
		return stack.UDPDefaultQueueLen, 0
	case sockproto.OptBroadcast:
		return boolVal(sk.broadcast), 0
	case sockproto.OptRecvTimeout:
		return int64(sk.recvTimeout), 0
	case sockproto.OptNonBlock:
		return boolVal(sk.nonBlock), 0
	case sockproto.OptRecvDrops:
		if sk.ep == nil {
			return 0, 0
		}
		return int64(sk.ep.Stats().RxDropped), 0
	case sockproto.OptRecvQueued:
		if sk.ep == nil {
			return 0, 0
		}
		return int64(sk.ep.Len()), 0
	case sockproto.OptError:
		return int64(sk.takeError()), 0
	}
	return 0, sockproto.ENOPROTOOPT
}
