// Package linuxref is the Linux reference guest for armos benchmarks: every
// armos figure (boot to ready, UDP echo RTT, memory in use) is reported next
// to the same figure for a stock Debian arm64 Linux kernel booted in the
// same QEMU machine (-M virt -cpu cortex-a72) in the same run (docs/design.md §6).
//
// The pieces, one file each:
//
//   - fetch.go: downloads Debian's linux-image-cloud-arm64 and the package
//     it depends on with apt-get, without touching the host's dpkg
//     architectures (private lists, cache and an empty status file), and
//     unpacks them with dpkg -x into a cache directory (default
//     out/linuxref). Locate finds an earlier download.
//   - modinfo.go: reads the "depends=" list from a kernel module's
//     .modinfo section, so the virtio-net modules are loaded in dependency
//     order although the Debian package ships no modules.dep.
//   - cpio.go, cpioread.go: a writer (and a reader, for tests and checks)
//     of the "newc" cpio format the kernel unpacks as its initramfs.
//   - initramfs.go: builds the guest's /init (cmd/init, a static Go
//     program) and packs it with the modules, and any extra files (e.g.
//     a benchmark program), into an initramfs.
//   - protocol.go: the console lines /init prints and the host parses,
//     and the kernel command line options /init obeys.
//   - run.go: running programs in the guest (linuxref.run=/bin/prog,arg):
//     the argument encoding, the line prefixing and the exit lines, the
//     same as armos prints for its processes.
//   - qemu.go: boots the guest (optionally with -icount shift=0, or more
//     kernel command line words such as kpti=0) and times QEMU start to
//     each console line.
//   - echo.go: the host side of the UDP echo RTT measurement.
//
// Nothing here needs network, root or QEMU except Fetch, the guest boot and
// the benchmarks; the benchmarks fail with the fetch command to run when the
// kernel has not been downloaded.
package linuxref
