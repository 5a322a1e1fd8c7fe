// Package proc starts user programs: static linux/arm64 ELF executables
// from the boot image, run as armos processes (docs/processes.md).
//
// FS is the file system processes see: the boot image's tree (indexed by
// internal/bootimg, read through the kernel's fw_cfg device) plus a few
// special files. Spawn loads a program into a new process: ParseELF
// validates the file (every offset, size and address is checked against the
// file and the user range before use), Load maps the PT_LOAD segments as
// regions of the process's mm.AddressSpace and fills them chunk by chunk,
// each chunk one bounded locked section (rt.WithSpace), then writes the
// Linux initial stack (BuildStack: argc, argv, envp, auxv with AT_PHDR,
// AT_RANDOM, AT_HWCAP, AT_SYSINFO_EHDR...); rt.StartProcess runs it.
//
// FS.Serve completes the system calls the trap layer hands to kernel Go
// code (rt.ServiceCall): openat, newfstatat, faccessat, readlinkat,
// getdents64, chdir on the image, and execve, which loads the new image
// into the caller's own fresh address space (a vfork child keeps running in
// its parent's until then) and switches to it (rt.ExecBegin, ExecCommit).
package proc
