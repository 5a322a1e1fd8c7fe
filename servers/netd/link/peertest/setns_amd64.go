package peertest

// sysSetns is setns(2) on linux/amd64 (arch/x86/entry/syscalls/syscall_64.tbl).
const sysSetns = 308
