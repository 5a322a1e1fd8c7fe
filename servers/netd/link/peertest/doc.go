// Package peertest is the harness for netd's real-peer tests: tests in which
// the Linux kernel's own network stack, driven by the standard tools (ping,
// arping, ip, socat), is netd's peer across a TAP device.
//
// All traffic stays inside a network namespace the test creates with a
// unique name (armos-<pid>-<n>) and removes in t.Cleanup, so a test can only
// ever reach addresses it configured itself. NS runs commands inside the
// namespace (ip netns exec) and can run Go code there (setns on a locked OS
// thread), which is how a test opens the TAP device from its own process.
//
// The tests need root and the tools listed in Tools; Require fails the test
// loudly, naming the Debian packages to install, instead of skipping — CI runs
// as root and installs them. The parsers turn the tools' output into values
// (ParsePing, ParseArping, ParseNeigh); each has a fuzz target.
package peertest
