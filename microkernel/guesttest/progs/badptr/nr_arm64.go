package main

import "syscall"

// sysGetrandom is getrandom(2).
const sysGetrandom = syscall.SYS_GETRANDOM
