// Package link holds the link drivers netd runs on when it is hosted on a
// development machine instead of inside armos.
//
// Two drivers are provided:
//
//   - TAP: a Linux TAP device opened through /dev/net/tun with the TUNSETIFF
//     ioctl (syscall and os packages only, no cgo). Every read returns one
//     whole Ethernet frame and every write sends one, so the Linux kernel's
//     own network stack becomes netd's peer on the other side of the device.
//   - Mem: a point-to-point in-memory link pair with a fault injector in the
//     style of smoltcp's FaultInjector: frames may be dropped, corrupted,
//     duplicated, truncated to a maximum size or rate-limited. Tests of the
//     stack, the socket service and the apps use it to run netd hosted and
//     deterministically (seeded randomness, injected clock).
//
// Both drivers satisfy the stack's Link contract (Transmit takes ownership of
// a frame's buffer and frees it) and the receive side netd needs (ReadBuf
// fills a fresh packet buffer with one frame).
//
// Pump connects a driver to netd's single-goroutine event loop: a reader
// goroutine moves frames into a bounded queue and the pump posts batched
// drains of it to the loop, which hands each frame to the stack's Input. The
// stack therefore only ever runs on the loop goroutine, interleaved with IPC
// requests, and the stack's timers stay the loop's business.
//
// Every bound (Mem's queue, the pump's queue) is a named constant and every
// drop is counted (MemCounters, PumpStats).
package link
