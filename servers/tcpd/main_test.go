package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libproto/protoproto"
	"armos/servers/tcpd/tcp"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, protoproto.ServiceName, o.service)
	assert.Equal(t, tcp.DefaultSendBuffer, o.cfg.SendBuffer)
	assert.Equal(t, tcp.DefaultRecvBuffer, o.cfg.RecvBuffer)
	assert.Zero(t, o.cfg.MTU, "the interface's MTU")

	o, err = parseFlags([]string{"-service", "peer.proto", "-sndbuf", "65536", "-rcvbuf", "1048576", "-mtu", "9000"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "peer.proto", o.service)
	assert.Equal(t, 65536, o.cfg.SendBuffer)
	assert.Equal(t, 1<<20, o.cfg.RecvBuffer)
	assert.Equal(t, 9000, o.cfg.MTU)

	for _, bad := range [][]string{
		{"extra"},
		{"-service", ""},
		{"-sndbuf", "100"},
		{"-rcvbuf", "999999999"},
		{"-mtu", "67"},
		{"-mtu", "-1"},
		{"-nope"},
	} {
		_, err := parseFlags(bad, io.Discard)
		assert.Error(t, err, "%q", bad)
	}
}
