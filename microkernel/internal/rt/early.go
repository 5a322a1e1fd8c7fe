package rt

import (
	"unsafe"

	"armos/microkernel/internal/arch"
	"armos/microkernel/internal/mm"
)

// Boot before the Go runtime exists. entry_arm64.s has dropped to EL1,
// turned on FP/SIMD, the MMU (identity map) and the vectors; it then calls
// earlyInit with g = trapG, and afterwards enters the runtime at
// _rt0_arm64_linux on the stack that earlyInit prepared.

// dtbAddr is where QEMU places the DTB for an ELF kernel linked at or above
// 0x40101000 (see notes on linking in docs/boot.md).
const dtbAddr = 0x40000000

// dtbMaxSize bounds how much of the DTB area is read.
const dtbMaxSize = 1 << 20

// Stacks in the image's BSS: the exception stack (trap code runs there),
// the emergency stack that fatal nested exceptions switch to, and the stack
// the runtime's first thread starts on (the runtime uses its top 64 KiB as
// m0's g0 stack). The exception and m0 stacks each carry two spare pages:
// the lowest whole page inside the array is left unmapped as a guard
// (kmap.go), so an overflow faults instead of overwriting what lies below.
const (
	excStackSize  = 65536 + 2*pageSize // EXC_STACK_SIZE in entry_arm64.s
	nestStackSize = 8192               // NEST_STACK_SIZE in vectors_arm64.s
	m0StackSize   = 256<<10 + 2*pageSize
)

// Set by entry_arm64.s before earlyInit, with the MMU off: the addresses
// are physical.
var (
	entryTicks uint64  // CNTVCT_EL0 at entry
	entryEL    uint64  // exception level QEMU entered the kernel at
	bootL0     uintptr // level 0 translation table of the boot map
	bootFree   uintptr // first free physical byte after the image and boot tables
	imageText  uintptr // runtime.text: the image starts one page below (ELF headers)
)

var (
	excStack  [excStackSize / 8]uint64
	nestStack [nestStackSize / 8]uint64
	m0Stack   [m0StackSize / 8]uint64
	trapG     [32]uint64 // a fake g: stack.lo, stack.hi, stackguard0 = 0
	initialSP uintptr    // the Linux initial stack pointer for _rt0_arm64_linux
	bootInfo  BootInfo
	dtbOK     bool
	physPages mm.PhysMem
	// bootReserved is what the page allocator must not hand out: the DTB,
	// and the kernel image with the boot tables (a global: no allocation).
	bootReserved [2]mm.Range
)

// ELF auxiliary vector keys (include/uapi/linux/auxvec.h).
const (
	atNull   = 0
	atPagesz = 6
	atHwcap  = 16
	atSecure = 23
	atRandom = 25
	atHwcap2 = 26
)

// earlyInit reads the DTB, sets up the page allocator, threads, the GIC and
// the timer, and builds the Linux initial stack. It runs before the Go
// runtime: no allocation, no runtime calls.
func earlyInit() {
	arch.SetUART(kva(arch.EarlyUART))
	setCounterFreq(arch.CounterFreq())
	blob := unsafe.Slice((*byte)(ptrOf(kva(dtbAddr))), dtbMaxSize)
	dtbOK = ScanDTB(blob, &bootInfo)
	if bootInfo.UART != 0 {
		arch.SetUART(kva(bootInfo.UART))
	}
	puts("armos: early boot at EL")
	putDec(entryEL)
	puts("\n")
	if !dtbOK {
		puts(FailMarker)
		puts(" no usable device tree at 0x40000000\n")
		powerOff()
	}
	arch.SetPSCIConduit(bootInfo.PSCISMC)
	memEnd := bootInfo.MemBase + bootInfo.MemSize
	if memEnd > 4<<30 { // the boot map covers RAM up to 4 GiB
		memEnd = 4 << 30
	}
	w, e := mm.NewWindow(uint64(bootInfo.MemBase), uint64(memEnd-bootInfo.MemBase), ptrOf(kva(bootInfo.MemBase)))
	bootReserved[0] = mm.Range{Start: dtbAddr, End: dtbAddr + uint64(dtbSize(blob))}
	bootReserved[1] = mm.Range{Start: uint64(imageStart()), End: uint64(bootFree)}
	if e == mm.OK {
		e = physPages.Init(w, bootReserved[:])
	}
	if e != mm.OK {
		puts(FailMarker)
		puts(" cannot set up the page allocator\n")
		powerOff()
	}
	if e := mapKernel(uint64(bootInfo.MemBase), uint64(memEnd)); e != mm.OK {
		puts(FailMarker)
		puts(" cannot build the kernel's translation tables: ")
		puts(e.Error())
		puts("\n")
		powerOff()
	}
	asidLimit := uint32(256)
	if (arch.MMFR0()>>4)&0xf == 2 { // 16-bit ASIDs, enabled in TCR_EL1 by entry_arm64.s
		asidLimit = 1 << 16
	}
	if n := atou(bootArgValue(bootInfo.Bootargs, "armos.asids")); n >= 2 && n < uint64(asidLimit) {
		asidLimit = uint32(n) // tests force ASID rollovers with a small space
	}
	debugAllowed = bootArgValue(bootInfo.Bootargs, "armos.debug") != nil
	straceInit(bootArgValue(bootInfo.Bootargs, "armos.strace"))
	initProcs(asidLimit)
	initFiles()
	initThreads()
	arch.EnableEL0VirtualCounter() // for the vDSO
	atUsable = true                // copyIn/copyOut may ask the MMU
	if arch.EnablePAN() {
		panEnabled = true
		pstateKernel |= pstatePAN
	}
	if !initUserPages() || !initPageSharing() {
		puts(FailMarker)
		puts(" out of memory at boot\n")
		powerOff()
	}
	rng.seed(bootInfo.RNGSeed)
	initBootImage()
	if bootInfo.GICVersion == 0 || bootInfo.TimerIntid == 0 {
		// Without the timer interrupt nothing could sleep or be
		// preempted: the kernel would hang silently later.
		puts(FailMarker)
		puts(" no GIC or virtual timer interrupt in the device tree\n")
		powerOff()
	}
	arch.GICInit(bootInfo.GICVersion, kva(bootInfo.GICDist), kva(bootInfo.GICCPU))
	timerIntid = bootInfo.TimerIntid
	arch.GICEnable(timerIntid)
	arch.DisarmTimer()
	hwcapValue = hwcap(arch.ISAR0(), arch.PFR0())
	initialSP = buildInitialStack(addrOf(&m0Stack[len(m0Stack)-1])+8, hwcapValue, randomSeed())
}

// dtbSize returns the DTB's total size (ScanDTB has validated it).
func dtbSize(blob []byte) uintptr { return uintptr(be32(blob, 4)) }

// imageStart returns the lowest address of the loaded image: the page of
// ELF headers below the text (see the link flags in docs/boot.md).
func imageStart() uintptr { return imageText - pageSize }

// randomSeed returns the 16 bytes behind AT_RANDOM: the DTB's rng-seed
// mixed with the counter (the counter alone when there is no seed).
func randomSeed() [16]byte {
	var r [16]byte
	for i, c := range bootInfo.RNGSeed {
		r[i%16] ^= c
	}
	t := arch.Counter()
	for i := 0; i < 8; i++ {
		r[i] ^= byte(t >> (8 * i))
		r[15-i] ^= byte(t >> (8 * i))
	}
	return r
}

// buildInitialStack lays out what Linux gives a new process below top:
// argc, argv, NULL, envp (empty), NULL, auxv, with the strings and the 16
// random bytes above them. It returns the stack pointer.
func buildInitialStack(top uintptr, hw uint64, random [16]byte) uintptr {
	const argv0 = "armos\x00"
	p := top - 16
	*(*[16]byte)(ptrOf(p)) = random
	randAddr := p
	p -= 16
	for i := 0; i < len(argv0); i++ {
		*(*byte)(ptrOf(p + uintptr(i))) = argv0[i]
	}
	argvAddr := p
	vec := [...]uint64{
		1, uint64(argvAddr), 0, // argc, argv[0], end of argv
		0, // end of envp
		atPagesz, pageSize,
		atHwcap, hw,
		atHwcap2, 0,
		atSecure, 0,
		atRandom, uint64(randAddr),
		atNull, 0,
	}
	p -= uintptr(len(vec)) * 8
	p &^= 15
	for i, v := range vec {
		*(*uint64)(ptrOf(p + uintptr(i)*8)) = v
	}
	return p
}

// Linux arm64 AT_HWCAP bits (arch/arm64/include/uapi/asm/hwcap.h).
const (
	hwcapFP      = 1 << 0
	hwcapASIMD   = 1 << 1
	hwcapAES     = 1 << 3
	hwcapPMULL   = 1 << 4
	hwcapSHA1    = 1 << 5
	hwcapSHA2    = 1 << 6
	hwcapCRC32   = 1 << 7
	hwcapATOMICS = 1 << 8
	hwcapCPUID   = 1 << 11 // never set: MRS of ID registers is not emulated
	hwcapRDM     = 1 << 12
	hwcapSHA3    = 1 << 17
	hwcapSM3     = 1 << 18
	hwcapSM4     = 1 << 19
	hwcapDP      = 1 << 20
	hwcapSHA512  = 1 << 21
)

// hwcap derives AT_HWCAP from ID_AA64ISAR0_EL1 and ID_AA64PFR0_EL1 (Arm ARM
// D17.2.61 and D17.2.67), as Linux does. A wrong ATOMICS bit crashes the
// runtime on CPUs without LSE (cortex-a72).
func hwcap(isar0, pfr0 uint64) uint64 {
	field := func(v uint64, lsb uint) uint64 { return (v >> lsb) & 0xf }
	var h uint64
	if field(pfr0, 16) != 0xf {
		h |= hwcapFP
	}
	if field(pfr0, 20) != 0xf {
		h |= hwcapASIMD
	}
	switch field(isar0, 4) {
	case 1:
		h |= hwcapAES
	case 2:
		h |= hwcapAES | hwcapPMULL
	}
	if field(isar0, 8) >= 1 {
		h |= hwcapSHA1
	}
	switch field(isar0, 12) {
	case 1:
		h |= hwcapSHA2
	case 2:
		h |= hwcapSHA2 | hwcapSHA512
	}
	if field(isar0, 16) >= 1 {
		h |= hwcapCRC32
	}
	if field(isar0, 20) >= 2 {
		h |= hwcapATOMICS
	}
	if field(isar0, 28) >= 1 {
		h |= hwcapRDM
	}
	if field(isar0, 32) >= 1 {
		h |= hwcapSHA3
	}
	if field(isar0, 36) >= 1 {
		h |= hwcapSM3
	}
	if field(isar0, 40) >= 1 {
		h |= hwcapSM4
	}
	if field(isar0, 44) >= 1 {
		h |= hwcapDP
	}
	return h
}

// addrOf returns the address of a kernel variable.
func addrOf(p *uint64) uintptr { return uintptr(unsafe.Pointer(p)) }
