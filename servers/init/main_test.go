package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseConfig(t *testing.T) {
	es, err := parseConfig(strings.NewReader(`
# comment
service netd  /bin/netd -link serve:lan0 -ip 10.99.0.2/24   # trailing comment
app     ping  /bin/ping -c 3 10.0.2.2

`), "test.conf")
	require.NoError(t, err)
	require.Equal(t, []entry{
		{service: true, name: "netd", argv: []string{"/bin/netd", "-link", "serve:lan0", "-ip", "10.99.0.2/24"}},
		{service: false, name: "ping", argv: []string{"/bin/ping", "-c", "3", "10.0.2.2"}},
	}, es)

	// Devices: options between the name and the program.
	es, err = parseConfig(strings.NewReader("service virtionetd device=net device=0x0a003e00 /bin/virtionetd -name net0\n"), "dev.conf")
	require.NoError(t, err)
	require.Equal(t, []entry{{service: true, name: "virtionetd", devices: []string{"net", "0x0a003e00"},
		argv: []string{"/bin/virtionetd", "-name", "net0"}}}, es)
	es, err = parseConfig(strings.NewReader("service sh console /bin/sh\n"), "sh.conf")
	require.NoError(t, err)
	require.Equal(t, []entry{{service: true, name: "sh", console: true, argv: []string{"/bin/sh"}}}, es)
	es, err = parseConfig(strings.NewReader("service netd standby /bin/netd -link nic:net0\n"), "standby.conf")
	require.NoError(t, err)
	require.Equal(t, []entry{{service: true, name: "netd", standby: true, argv: []string{"/bin/netd", "-link", "nic:net0"}}}, es)
	es, err = loadEntries("/nonexistent", []string{"app,devtest,device=rng,/bin/devtest,-env"}, "")
	require.NoError(t, err)
	require.Equal(t, []string{"rng"}, es[0].devices)
	require.Equal(t, []string{"/bin/devtest", "-env"}, es[0].argv)

	for _, bad := range []string{"service netd", "daemon x /bin/x", "app", "service d device=net", "service d device=nic /bin/d", "app d device= /bin/d",
		"app d standby /bin/d"} {
		_, err := parseConfig(strings.NewReader("\n"+bad+"\n"), "bad.conf")
		require.ErrorContains(t, err, "bad.conf:2:", bad)
	}
}

func TestLoadEntries(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "init.conf")
	require.NoError(t, os.WriteFile(conf, []byte("service netd /bin/netd\nservice echo /bin/echo\n"), 0o644))
	es, err := loadEntries(conf, []string{"app,nettest,/bin/nettest,-service,peer.sockets"}, "")
	require.NoError(t, err)
	require.Len(t, es, 3)
	require.Equal(t, []string{"/bin/nettest", "-service", "peer.sockets"}, es[2].argv)

	es, err = loadEntries(conf, nil, "echo")
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.Equal(t, "echo", es[0].name)

	_, err = loadEntries(conf, nil, "nosuch")
	require.ErrorContains(t, err, `no entry named "nosuch"`)
	_, err = loadEntries(conf, []string{"bogus"}, "")
	require.Error(t, err)
	es, err = loadEntries(filepath.Join(dir, "missing.conf"), []string{"app,a,/bin/a"}, "")
	require.NoError(t, err, "a missing configuration file is an empty one")
	require.Len(t, es, 1)
}

func FuzzParseConfig(f *testing.F) {
	f.Add("service netd /bin/netd -ip 10.99.0.2/24\napp x /bin/x # c\n")
	f.Add("app\n#\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		es, err := parseConfig(strings.NewReader(text), "fuzz")
		if err != nil {
			return
		}
		for _, e := range es {
			require.NotEmpty(t, e.name)
			require.NotEmpty(t, e.argv)
			require.False(t, strings.HasPrefix(e.argv[0], "device="), "options come before the program")
			require.NotContains(t, strings.Join(e.argv, " "), "#")
		}
	})
}

// A crash loop is slowed down: at once, then 50ms doubling to 10s.
func TestBackoff(t *testing.T) {
	var got []time.Duration
	d := time.Duration(0)
	for i := 0; i < 12; i++ {
		got = append(got, d)
		d = nextBackoff(d)
	}
	require.Equal(t, []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
		400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond,
		6400 * time.Millisecond, 10 * time.Second, 10 * time.Second, 10 * time.Second}, got)
}

// stopAll's order: the configuration backwards, a standby beside its
// entry, an unknown name last.
func TestStopOrder(t *testing.T) {
	mk := func(name string) *child { return &child{e: entry{name: name}} }
	order := map[string]int{"virtionetd": 0, "netd": 1, "echo": 2, "dhcpc": 3, "resolved": 4}
	live := []*child{mk("netd"), mk("x"), mk("resolved"), mk("virtionetd"), mk("dhcpc"), mk("netd"), mk("echo")}
	var names []string
	for _, c := range stopOrder(live, order) {
		names = append(names, c.e.name)
	}
	require.Equal(t, []string{"resolved", "dhcpc", "echo", "netd", "netd", "virtionetd", "x"}, names)
}
