//go:build linux

package stack

// sysGetrandom is getrandom(2)'s number on linux/arm64 (and armos).
const sysGetrandom = 278
