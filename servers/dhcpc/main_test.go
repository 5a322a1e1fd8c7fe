package main

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"armos/libsocket/adminproto"
	"armos/servers/dhcpc/client"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.True(t, o.probe)
	assert.Equal(t, "armos", o.cfg.Hostname)
	assert.Equal(t, time.Second, o.cfg.StartDelay)
	assert.Equal(t, adminproto.NetdService, o.admin)

	o, err = parseFlags([]string{"-noprobe", "-hostname", "", "-startdelay", "0s", "-admin", "x.admin"}, io.Discard)
	require.NoError(t, err)
	assert.False(t, o.probe)
	assert.Empty(t, o.cfg.Hostname)
	assert.Zero(t, o.cfg.StartDelay)
	assert.Equal(t, "x.admin", o.admin)

	for _, bad := range [][]string{{"extra"}, {"-startdelay", "-1s"}, {"-startdelay", "2m"}, {"-hostname", strings.Repeat("h", 256)}, {"-nope"}} {
		_, err := parseFlags(bad, io.Discard)
		assert.Error(t, err, "%q", bad)
	}
}

func TestSection(t *testing.T) {
	var b bytes.Buffer
	c := client.Counters{Offers: 2, Leases: 1}
	c.Rx.Accepted = 3
	section(&b, "events", reflectValue(c))
	assert.Equal(t, "events:\n    Offers           2\n    Leases           1\n", b.String(), "non-zero counters only, structs skipped")
}

func reflectValue(v any) reflect.Value { return reflect.ValueOf(v) }
