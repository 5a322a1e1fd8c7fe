package vdso

import "fmt"

// A tiny AArch64 encoder: just the instructions the vDSO functions use
// (Arm ARM DDI 0487, chapter C6). Each method appends one instruction word;
// branches to labels are patched when the label is bound. enc_test.go checks
// every encoding against words from the GNU assembler.

// reg is a general-purpose register number. 31 is XZR/WZR for the data
// processing instructions used here; none of the methods below takes SP.
type reg uint32

const (
	x0  reg = 0
	x1  reg = 1
	x8  reg = 8
	x9  reg = 9
	x10 reg = 10
	x11 reg = 11
	x12 reg = 12
	x13 reg = 13
	x14 reg = 14
	x15 reg = 15
	x16 reg = 16
	x17 reg = 17
	xzr reg = 31
)

// cond is a condition code for B.cond.
type cond uint32

const (
	condEQ cond = 0x0
	condNE cond = 0x1
	condHI cond = 0x8 // unsigned >
)

// label is a branch target inside the code being assembled.
type label struct {
	at    int // word index once bound, -1 before
	fixes []fixup
}

// fixup is a branch whose offset field waits for its label.
type fixup struct {
	at    int    // word index of the branch
	lsb   uint32 // bit position of the offset field
	width uint32 // width of the offset field in bits (signed, in words)
}

// asm accumulates instruction words. org is the image address of the first
// word (ADR targets are image addresses). written records the registers an
// instruction writes, so tests can prove the code keeps to x0–x17.
type asm struct {
	org     int64
	words   []uint32
	labels  []*label
	written uint32 // bit n: register n is a destination somewhere
}

// label returns a new, unbound label.
func (a *asm) label() *label {
	l := &label{at: -1}
	a.labels = append(a.labels, l)
	return l
}

// pc is the image address of the next instruction.
func (a *asm) pc() int64 { return a.org + 4*int64(len(a.words)) }

func (a *asm) emit(w uint32, dst ...reg) {
	a.words = append(a.words, w)
	for _, r := range dst {
		if r != xzr {
			a.written |= 1 << r
		}
	}
}

// bind places l at the next instruction and patches the branches to it.
func (a *asm) bind(l *label) {
	if l.at >= 0 {
		panic("vdso: label bound twice")
	}
	l.at = len(a.words)
	for _, f := range l.fixes {
		a.patch(f, l.at)
	}
	l.fixes = nil
}

// branch emits w with its offset field pointing at l (now or once bound).
func (a *asm) branch(w uint32, l *label, lsb, width uint32) {
	f := fixup{at: len(a.words), lsb: lsb, width: width}
	a.emit(w)
	if l.at >= 0 {
		a.patch(f, l.at)
	} else {
		l.fixes = append(l.fixes, f)
	}
}

func (a *asm) patch(f fixup, target int) {
	off := int64(target - f.at)
	if lim := int64(1) << (f.width - 1); off < -lim || off >= lim {
		panic(fmt.Sprintf("vdso: branch at word %d out of range (%d words)", f.at, off))
	}
	mask := uint32(1)<<f.width - 1
	a.words[f.at] |= (uint32(off) & mask) << f.lsb
}

// bytes checks that every label was bound and returns the code, little-endian.
func (a *asm) bytes() []byte {
	for _, l := range a.labels {
		if l.at < 0 {
			panic("vdso: unbound label")
		}
	}
	b := make([]byte, 0, 4*len(a.words))
	for _, w := range a.words {
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return b
}

func imm(v, bits uint32) uint32 {
	if v>>bits != 0 {
		panic(fmt.Sprintf("vdso: immediate %#x does not fit in %d bits", v, bits))
	}
	return v
}

// scaled returns off/size as an unsigned immediate of the given width.
func scaled(off, size, bits uint32) uint32 {
	if off%size != 0 {
		panic(fmt.Sprintf("vdso: offset %d not a multiple of %d", off, size))
	}
	return imm(off/size, bits)
}

// Data processing.

// movz: MOVZ Xd, #imm16, LSL #(16*hw)
func (a *asm) movz(rd reg, imm16, hw uint32) {
	a.emit(0xd2800000|imm(hw, 2)<<21|imm(imm16, 16)<<5|uint32(rd), rd)
}

// movk: MOVK Xd, #imm16, LSL #(16*hw)
func (a *asm) movk(rd reg, imm16, hw uint32) {
	a.emit(0xf2800000|imm(hw, 2)<<21|imm(imm16, 16)<<5|uint32(rd), rd)
}

// addImm: ADD Xd, Xn, #imm12
func (a *asm) addImm(rd, rn reg, imm12 uint32) {
	a.emit(0x91000000|imm(imm12, 12)<<10|uint32(rn)<<5|uint32(rd), rd)
}

// cmpWImm: CMP Wn, #imm12 (SUBS WZR, Wn, #imm12)
func (a *asm) cmpWImm(rn reg, imm12 uint32) {
	a.emit(0x7100001f | imm(imm12, 12)<<10 | uint32(rn)<<5)
}

// cmpW: CMP Wn, Wm (SUBS WZR, Wn, Wm)
func (a *asm) cmpW(rn, rm reg) {
	a.emit(0x6b00001f | uint32(rm)<<16 | uint32(rn)<<5)
}

// rrr emits a three-register instruction: base | Rm<<16 | Rn<<5 | Rd.
func (a *asm) rrr(base uint32, rd, rn, rm reg) {
	a.emit(base|uint32(rm)<<16|uint32(rn)<<5|uint32(rd), rd)
}

func (a *asm) add(rd, rn, rm reg)   { a.rrr(0x8b000000, rd, rn, rm) }  // ADD Xd, Xn, Xm
func (a *asm) sub(rd, rn, rm reg)   { a.rrr(0xcb000000, rd, rn, rm) }  // SUB Xd, Xn, Xm
func (a *asm) orr(rd, rn, rm reg)   { a.rrr(0xaa000000, rd, rn, rm) }  // ORR Xd, Xn, Xm
func (a *asm) eor(rd, rn, rm reg)   { a.rrr(0xca000000, rd, rn, rm) }  // EOR Xd, Xn, Xm
func (a *asm) mvn(rd, rm reg)       { a.rrr(0xaa200000, rd, xzr, rm) } // MVN Xd, Xm (ORN Xd, XZR, Xm)
func (a *asm) mul(rd, rn, rm reg)   { a.rrr(0x9b007c00, rd, rn, rm) }  // MUL Xd, Xn, Xm (MADD ..., XZR)
func (a *asm) umulh(rd, rn, rm reg) { a.rrr(0x9bc07c00, rd, rn, rm) }  // UMULH Xd, Xn, Xm
func (a *asm) udiv(rd, rn, rm reg)  { a.rrr(0x9ac00800, rd, rn, rm) }  // UDIV Xd, Xn, Xm
func (a *asm) lslv(rd, rn, rm reg)  { a.rrr(0x9ac02000, rd, rn, rm) }  // LSL Xd, Xn, Xm (shift mod 64)
func (a *asm) lsrv(rd, rn, rm reg)  { a.rrr(0x9ac02400, rd, rn, rm) }  // LSR Xd, Xn, Xm (shift mod 64)
func (a *asm) lsrvW(rd, rn, rm reg) { a.rrr(0x1ac02400, rd, rn, rm) }  // LSR Wd, Wn, Wm (shift mod 32)

// msub: MSUB Xd, Xn, Xm, Xa (Xd = Xa - Xn*Xm)
func (a *asm) msub(rd, rn, rm, ra reg) {
	a.emit(0x9b008000|uint32(rm)<<16|uint32(ra)<<10|uint32(rn)<<5|uint32(rd), rd)
}

// lslImm: LSL Xd, Xn, #sh (UBFM Xd, Xn, #(-sh mod 64), #(63-sh))
func (a *asm) lslImm(rd, rn reg, sh uint32) {
	imm(sh, 6)
	a.emit(0xd3400000|(-sh&63)<<16|(63-sh)<<10|uint32(rn)<<5|uint32(rd), rd)
}

// adr: ADR Xd, target, with target an image address within ±1 MiB.
func (a *asm) adr(rd reg, target int64) {
	off := target - a.pc()
	if off < -1<<20 || off >= 1<<20 {
		panic("vdso: ADR target out of range")
	}
	u := uint32(off)
	a.emit(0x10000000|(u&3)<<29|(u>>2&0x7ffff)<<5|uint32(rd), rd)
}

// Loads and stores. Offsets are in bytes.

// ldrW: LDR Wt, [Xn, #off]
func (a *asm) ldrW(rt, rn reg, off uint32) {
	a.emit(0xb9400000|scaled(off, 4, 12)<<10|uint32(rn)<<5|uint32(rt), rt)
}

// ldrX: LDR Xt, [Xn, #off]
func (a *asm) ldrX(rt, rn reg, off uint32) {
	a.emit(0xf9400000|scaled(off, 8, 12)<<10|uint32(rn)<<5|uint32(rt), rt)
}

// ldrXIdx: LDR Xt, [Xn, Wm, UXTW #3] (element Wm of a uint64 array)
func (a *asm) ldrXIdx(rt, rn, rm reg) {
	a.emit(0xf8605800|uint32(rm)<<16|uint32(rn)<<5|uint32(rt), rt)
}

// ldrWReg: LDR Wt, [Xn, Xm]
func (a *asm) ldrWReg(rt, rn, rm reg) {
	a.emit(0xb8606800|uint32(rm)<<16|uint32(rn)<<5|uint32(rt), rt)
}

// ldarW: LDAR Wt, [Xn] (load-acquire)
func (a *asm) ldarW(rt, rn reg) {
	a.emit(0x88dffc00|uint32(rn)<<5|uint32(rt), rt)
}

// ldp: LDP Xt1, Xt2, [Xn, #off]
func (a *asm) ldp(rt1, rt2, rn reg, off int32) {
	a.emit(0xa9400000|pairOff(off)|uint32(rt2)<<10|uint32(rn)<<5|uint32(rt1), rt1, rt2)
}

// stp: STP Xt1, Xt2, [Xn, #off]
func (a *asm) stp(rt1, rt2, rn reg, off int32) {
	a.emit(0xa9000000 | pairOff(off) | uint32(rt2)<<10 | uint32(rn)<<5 | uint32(rt1))
}

func pairOff(off int32) uint32 {
	if off%8 != 0 || off < -512 || off > 504 {
		panic("vdso: bad LDP/STP offset")
	}
	return uint32(off/8) & 0x7f << 15
}

// Branches.

// bcond: B.cond l
func (a *asm) bcond(c cond, l *label) { a.branch(0x54000000|uint32(c), l, 5, 19) }

// cbz: CBZ Xt, l
func (a *asm) cbz(rt reg, l *label) { a.branch(0xb4000000|uint32(rt), l, 5, 19) }

// cbnz: CBNZ Xt, l
func (a *asm) cbnz(rt reg, l *label) { a.branch(0xb5000000|uint32(rt), l, 5, 19) }

// tbz: TBZ Rt, #bit, l
func (a *asm) tbz(rt reg, bit uint32, l *label) {
	a.branch(0x36000000|(bit>>5)<<31|imm(bit, 6)&31<<19|uint32(rt), l, 5, 14)
}

// tbnz: TBNZ Rt, #bit, l
func (a *asm) tbnz(rt reg, bit uint32, l *label) {
	a.branch(0x37000000|(bit>>5)<<31|imm(bit, 6)&31<<19|uint32(rt), l, 5, 14)
}

// ret: RET (to X30)
func (a *asm) ret() { a.emit(0xd65f03c0) }

// System.

// svc0: SVC #0
func (a *asm) svc0() { a.emit(0xd4000001) }

// isb: ISB (SY)
func (a *asm) isb() { a.emit(0xd5033fdf) }

// dmbISHLD: DMB ISHLD (orders earlier loads before later loads and stores)
func (a *asm) dmbISHLD() { a.emit(0xd50339bf) }

// mrsCNTVCT: MRS Xt, CNTVCT_EL0 (op0 3, op1 3, CRn 14, CRm 0, op2 2)
func (a *asm) mrsCNTVCT(rt reg) { a.emit(0xd53be040|uint32(rt), rt) }
