//go:build linux

package stack

// sysGetrandom is getrandom(2)'s number on linux/amd64.
const sysGetrandom = 318
