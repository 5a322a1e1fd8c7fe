package vdso

import "encoding/binary"

// The image is a minimal ELF64 little-endian AArch64 shared object, laid out
// with file offsets equal to virtual addresses (base 0), as Linux's vDSO is:
//
//	ELF header, 2 program headers (PT_LOAD of the whole file R+X, PT_DYNAMIC)
//	.hash           SysV hash table (DT_HASH: Go, glibc and musl all read it)
//	.dynsym         null symbol + one STT_FUNC per function
//	.dynstr         soname, version name, function names
//	.gnu.version    versym: every function has version index 2
//	.gnu.version_d  verdef: 1 = the file itself (linux-vdso.so.1, BASE), 2 = LINUX_2.6.39
//	.dynamic        DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_SONAME,
//	                DT_VERSYM, DT_VERDEF, DT_VERDEFNUM
//	.text           the functions (code.go)
//	.shstrtab, section headers (for tools such as debug/elf and objdump; loaders ignore them)
//
// The Go runtime (runtime/vdso_linux.go) takes the load offset from the first
// PT_LOAD (AT_SYSINFO_EHDR + p_offset - p_vaddr), finds .dynamic through
// PT_DYNAMIC's p_offset, and then requires DT_STRTAB, DT_SYMTAB, DT_HASH or
// DT_GNU_HASH, and DT_VERDEF (it walks the verdef list without a nil check)
// naming LINUX_2.6.39 with its ELF hash.

// Names the runtime and C libraries look up (arm64: man 7 vdso).
const (
	soname  = "linux-vdso.so.1"
	version = "LINUX_2.6.39"
)

// ELF constants (elf(5)); debug/elf is kept out of the kernel.
const (
	ehdrSize   = 64
	phdrSize   = 56
	shdrSize   = 64
	symSize    = 24
	dynSize    = 16
	verdefSize = 20
	verauxSize = 8

	etDyn     = 3
	emAArch64 = 183

	ptLoad    = 1
	ptDynamic = 2
	pfX       = 1
	pfR       = 4

	shtProgbits = 1
	shtStrtab   = 3
	shtHash     = 5
	shtDynamic  = 6
	shtDynsym   = 11
	shtVerdef   = 0x6ffffffd
	shtVersym   = 0x6fffffff
	shfAlloc    = 2
	shfExec     = 4

	dtNull       = 0
	dtHash       = 4
	dtStrtab     = 5
	dtSymtab     = 6
	dtStrsz      = 10
	dtSyment     = 11
	dtSoname     = 14
	dtVersym     = 0x6ffffff0
	dtVerdef     = 0x6ffffffc
	dtVerdefnum  = 0x6ffffffd
	verFlgBase   = 1
	versionIndex = 2 // LINUX_2.6.39's index; 1 is the file itself

	stbGlobal = 1
	sttFunc   = 2
)

// Section indexes, in file order.
const (
	secNull = iota
	secHash
	secDynsym
	secDynstr
	secVersym
	secVerdef
	secDynamic
	secText
	secShstrtab
	numSections
)

// elfHash is the System V ABI symbol hash (DT_HASH, vd_hash).
func elfHash(name string) uint32 {
	var h uint32
	for i := 0; i < len(name); i++ {
		h = h<<4 + uint32(name[i])
		g := h & 0xf0000000
		h ^= g >> 24
		h &^= g
	}
	return h
}

// strtab builds an ELF string table (offset 0 is the empty string).
type strtab struct{ b []byte }

func (s *strtab) add(name string) uint32 {
	if len(s.b) == 0 {
		s.b = []byte{0}
	}
	off := uint32(len(s.b))
	s.b = append(append(s.b, name...), 0)
	return off
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// Build assembles the vDSO image. It is deterministic; the result is the
// committed vdso.so (Image), which TestImageUpToDate checks.
func Build() []byte {
	le := binary.LittleEndian

	// The function names and sizes do not depend on where .text goes.
	_, probe := text(0)
	nsym := 1 + len(probe)

	var dynstr, shstr strtab
	sonameOff := dynstr.add(soname)
	versionOff := dynstr.add(version)
	nameOff := make([]uint32, len(probe))
	for i, f := range probe {
		nameOff[i] = dynstr.add(f.name)
	}
	secName := [numSections]uint32{}
	for i, n := range []string{"", ".hash", ".dynsym", ".dynstr", ".gnu.version",
		".gnu.version_d", ".dynamic", ".text", ".shstrtab"} {
		if i > 0 {
			secName[i] = shstr.add(n)
		}
	}

	// SysV hash table: nbucket, nchain, buckets, chains.
	nbucket := len(probe)
	hash := make([]uint32, 2+nbucket+nsym)
	hash[0], hash[1] = uint32(nbucket), uint32(nsym)
	bucket, chain := hash[2:2+nbucket], hash[2+nbucket:]
	for i, f := range probe {
		sym := uint32(i + 1)
		b := elfHash(f.name) % uint32(nbucket)
		chain[sym] = bucket[b]
		bucket[b] = sym
	}

	// Layout.
	type span struct{ off, size int }
	var sec [numSections]span
	off := ehdrSize + 2*phdrSize
	place := func(i, align, size int) {
		off = alignUp(off, align)
		sec[i] = span{off, size}
		off += size
	}
	const numDyn = 10
	place(secHash, 8, 4*len(hash))
	place(secDynsym, 8, symSize*nsym)
	place(secDynstr, 1, len(dynstr.b))
	place(secVersym, 2, 2*nsym)
	place(secVerdef, 8, 2*(verdefSize+verauxSize))
	place(secDynamic, 8, dynSize*numDyn)
	off = alignUp(off, 16)
	code, fns := text(int64(off))
	place(secText, 16, 4*len(code.words))
	place(secShstrtab, 1, len(shstr.b))
	shoff := alignUp(off, 8)
	size := shoff + numSections*shdrSize

	img := make([]byte, size)
	put := func(i int, b []byte) { copy(img[sec[i].off:], b) }

	// ELF header.
	copy(img, "\x7fELF")
	img[4], img[5], img[6] = 2, 1, 1 // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
	le.PutUint16(img[16:], etDyn)
	le.PutUint16(img[18:], emAArch64)
	le.PutUint32(img[20:], 1) // e_version
	le.PutUint64(img[32:], ehdrSize)
	le.PutUint64(img[40:], uint64(shoff))
	le.PutUint16(img[52:], ehdrSize)
	le.PutUint16(img[54:], phdrSize)
	le.PutUint16(img[56:], 2)
	le.PutUint16(img[58:], shdrSize)
	le.PutUint16(img[60:], numSections)
	le.PutUint16(img[62:], secShstrtab)

	// Program headers.
	phdr := func(p []byte, typ, flags uint32, off, size, align int) {
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], flags)
		le.PutUint64(p[8:], uint64(off))   // p_offset
		le.PutUint64(p[16:], uint64(off))  // p_vaddr
		le.PutUint64(p[24:], uint64(off))  // p_paddr
		le.PutUint64(p[32:], uint64(size)) // p_filesz
		le.PutUint64(p[40:], uint64(size)) // p_memsz
		le.PutUint64(p[48:], uint64(align))
	}
	phdr(img[ehdrSize:], ptLoad, pfR|pfX, 0, size, PageSize)
	phdr(img[ehdrSize+phdrSize:], ptDynamic, pfR, sec[secDynamic].off, sec[secDynamic].size, 8)

	// .hash
	for i, w := range hash {
		le.PutUint32(img[sec[secHash].off+4*i:], w)
	}

	// .dynsym (entry 0 stays zero) and .gnu.version (entry 0: local).
	for i, f := range fns {
		s := img[sec[secDynsym].off+symSize*(i+1):]
		le.PutUint32(s[0:], nameOff[i])
		s[4] = stbGlobal<<4 | sttFunc
		le.PutUint16(s[6:], secText)
		le.PutUint64(s[8:], uint64(f.start))
		le.PutUint64(s[16:], uint64(f.end-f.start))
		le.PutUint16(img[sec[secVersym].off+2*(i+1):], versionIndex)
	}
	put(secDynstr, dynstr.b)

	// .gnu.version_d: two verdefs, each followed by its one verdaux.
	verdef := func(p []byte, flags, ndx uint16, name string, nameOff uint32, last bool) {
		le.PutUint16(p[0:], 1) // vd_version
		le.PutUint16(p[2:], flags)
		le.PutUint16(p[4:], ndx)
		le.PutUint16(p[6:], 1) // vd_cnt
		le.PutUint32(p[8:], elfHash(name))
		le.PutUint32(p[12:], verdefSize) // vd_aux: right after
		if !last {
			le.PutUint32(p[16:], verdefSize+verauxSize) // vd_next
		}
		le.PutUint32(p[verdefSize:], nameOff) // vda_name; vda_next 0
	}
	vd := img[sec[secVerdef].off:]
	verdef(vd, verFlgBase, 1, soname, sonameOff, false)
	verdef(vd[verdefSize+verauxSize:], 0, versionIndex, version, versionOff, true)

	// .dynamic
	dyn := [numDyn][2]uint64{
		{dtHash, uint64(sec[secHash].off)},
		{dtStrtab, uint64(sec[secDynstr].off)},
		{dtSymtab, uint64(sec[secDynsym].off)},
		{dtStrsz, uint64(sec[secDynstr].size)},
		{dtSyment, symSize},
		{dtSoname, uint64(sonameOff)},
		{dtVersym, uint64(sec[secVersym].off)},
		{dtVerdef, uint64(sec[secVerdef].off)},
		{dtVerdefnum, 2},
		{dtNull, 0},
	}
	for i, d := range dyn {
		le.PutUint64(img[sec[secDynamic].off+dynSize*i:], d[0])
		le.PutUint64(img[sec[secDynamic].off+dynSize*i+8:], d[1])
	}

	put(secText, code.bytes())
	put(secShstrtab, shstr.b)

	// Section headers (entry 0 stays zero).
	type shdr struct {
		typ, flags, link, info, align, entsize int
	}
	hdrs := [numSections]shdr{
		secHash:     {shtHash, shfAlloc, secDynsym, 0, 8, 4},
		secDynsym:   {shtDynsym, shfAlloc, secDynstr, 1, 8, symSize},
		secDynstr:   {shtStrtab, shfAlloc, 0, 0, 1, 0},
		secVersym:   {shtVersym, shfAlloc, secDynsym, 0, 2, 2},
		secVerdef:   {shtVerdef, shfAlloc, secDynstr, 2, 8, 0},
		secDynamic:  {shtDynamic, shfAlloc, secDynstr, 0, 8, dynSize},
		secText:     {shtProgbits, shfAlloc | shfExec, 0, 0, 16, 0},
		secShstrtab: {shtStrtab, 0, 0, 0, 1, 0},
	}
	for i := 1; i < numSections; i++ {
		h, s := hdrs[i], img[shoff+shdrSize*i:]
		le.PutUint32(s[0:], secName[i])
		le.PutUint32(s[4:], uint32(h.typ))
		le.PutUint64(s[8:], uint64(h.flags))
		if h.flags&shfAlloc != 0 {
			le.PutUint64(s[16:], uint64(sec[i].off)) // sh_addr
		}
		le.PutUint64(s[24:], uint64(sec[i].off))
		le.PutUint64(s[32:], uint64(sec[i].size))
		le.PutUint32(s[40:], uint32(h.link))
		le.PutUint32(s[44:], uint32(h.info))
		le.PutUint64(s[48:], uint64(h.align))
		le.PutUint64(s[56:], uint64(h.entsize))
	}
	return img
}
