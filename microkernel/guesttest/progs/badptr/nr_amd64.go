package main

// sysGetrandom is getrandom(2), which this GOARCH's syscall package does not name.
const sysGetrandom = 318
