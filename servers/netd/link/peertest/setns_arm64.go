package peertest

// sysSetns is setns(2) on linux/arm64 (include/uapi/asm-generic/unistd.h).
const sysSetns = 268
