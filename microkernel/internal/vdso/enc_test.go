package vdso

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// encCases pairs each encoder method with GNU as syntax and the word
// aarch64-linux-gnu-as (binutils 2.40) produces for it.
var encCases = []struct {
	gnu  string
	emit func(a *asm)
	want uint32
}{
	{"movz x0, #0", func(a *asm) { a.movz(x0, 0, 0) }, 0xd2800000},
	{"movz x12, #0xca00", func(a *asm) { a.movz(x12, 0xca00, 0) }, 0xd299400c},
	{"movk x12, #0x3b9a, lsl #16", func(a *asm) { a.movk(x12, 0x3b9a, 1) }, 0xf2a7734c},
	{"movz x30, #0xffff, lsl #48", func(a *asm) { a.movz(30, 0xffff, 3) }, 0xd2fffffe},
	{"movk x3, #0x1234, lsl #32", func(a *asm) { a.movk(3, 0x1234, 2) }, 0xf2c24683},
	{"add x15, x9, #32", func(a *asm) { a.addImm(x15, x9, 32) }, 0x9100812f},
	{"add x1, x30, #4095", func(a *asm) { a.addImm(x1, 30, 4095) }, 0x913fffc1},
	{"cmp w0, #7", func(a *asm) { a.cmpWImm(x0, 7) }, 0x71001c1f},
	{"cmp w30, #4095", func(a *asm) { a.cmpWImm(30, 4095) }, 0x713fffdf},
	{"cmp w17, w10", func(a *asm) { a.cmpW(x17, x10) }, 0x6b0a023f},
	{"cmp w3, w29", func(a *asm) { a.cmpW(3, 29) }, 0x6b1d007f},
	{"add x14, x14, x15", func(a *asm) { a.add(x14, x14, x15) }, 0x8b0f01ce},
	{"sub x16, x16, x14", func(a *asm) { a.sub(x16, x16, x14) }, 0xcb0e0210},
	{"orr x14, x14, x16", func(a *asm) { a.orr(x14, x14, x16) }, 0xaa1001ce},
	{"eor x17, x16, x16", func(a *asm) { a.eor(x17, x16, x16) }, 0xca100211},
	{"mvn x13, x13", func(a *asm) { a.mvn(x13, x13) }, 0xaa2d03ed},
	{"mvn x0, x30", func(a *asm) { a.mvn(x0, 30) }, 0xaa3e03e0},
	{"mul x14, x16, x12", func(a *asm) { a.mul(x14, x16, x12) }, 0x9b0c7e0e},
	{"umulh x16, x16, x12", func(a *asm) { a.umulh(x16, x16, x12) }, 0x9bcc7e10},
	{"udiv x13, x14, x12", func(a *asm) { a.udiv(x13, x14, x12) }, 0x9acc09cd},
	{"lsl x16, x16, x13", func(a *asm) { a.lslv(x16, x16, x13) }, 0x9acd2210},
	{"lsr x14, x14, x13", func(a *asm) { a.lsrv(x14, x14, x13) }, 0x9acd25ce},
	{"lsr w11, w11, w0", func(a *asm) { a.lsrvW(x11, x11, x0) }, 0x1ac0256b},
	{"msub x14, x13, x12, x14", func(a *asm) { a.msub(x14, x13, x12, x14) }, 0x9b0cb9ae},
	{"lsl x16, x16, #1", func(a *asm) { a.lslImm(x16, x16, 1) }, 0xd37ffa10},
	{"lsl x2, x3, #63", func(a *asm) { a.lslImm(2, 3, 63) }, 0xd3410062},
	{"lsl x2, x3, #0", func(a *asm) { a.lslImm(2, 3, 0) }, 0xd340fc62},
	{"ldr w11, [x9, #4]", func(a *asm) { a.ldrW(x11, x9, 4) }, 0xb940052b},
	{"ldr w12, [x9, #16380]", func(a *asm) { a.ldrW(x12, x9, 16380) }, 0xb97ffd2c},
	{"ldr x15, [x9, #32]", func(a *asm) { a.ldrX(x15, x9, 32) }, 0xf940112f},
	{"ldr x1, [x2, #32760]", func(a *asm) { a.ldrX(x1, 2, 32760) }, 0xf97ffc41},
	{"ldr x15, [x15, w0, uxtw #3]", func(a *asm) { a.ldrXIdx(x15, x15, x0) }, 0xf86059ef},
	{"ldr w17, [x9, x17]", func(a *asm) { a.ldrWReg(x17, x9, x17) }, 0xb8716931},
	{"ldar w10, [x9]", func(a *asm) { a.ldarW(x10, x9) }, 0x88dffd2a},
	{"ldp x12, x14, [x9, #8]", func(a *asm) { a.ldp(x12, x14, x9, 8) }, 0xa940b92c},
	{"ldp x0, x1, [x2, #-512]", func(a *asm) { a.ldp(x0, x1, 2, -512) }, 0xa9600440},
	{"ldp x0, x1, [x2, #504]", func(a *asm) { a.ldp(x0, x1, 2, 504) }, 0xa95f8440},
	{"stp x13, x14, [x1]", func(a *asm) { a.stp(x13, x14, x1, 0) }, 0xa900382d},
	{"stp xzr, x12, [x1]", func(a *asm) { a.stp(xzr, x12, x1, 0) }, 0xa900303f},
	{"stp x3, x4, [x5, #-8]", func(a *asm) { a.stp(3, 4, 5, -8) }, 0xa93f90a3},
	{"ret", func(a *asm) { a.ret() }, 0xd65f03c0},
	{"svc #0", func(a *asm) { a.svc0() }, 0xd4000001},
	{"isb", func(a *asm) { a.isb() }, 0xd5033fdf},
	{"dmb ishld", func(a *asm) { a.dmbISHLD() }, 0xd50339bf},
	{"mrs x16, cntvct_el0", func(a *asm) { a.mrsCNTVCT(x16) }, 0xd53be050},
	{"mrs x0, cntvct_el0", func(a *asm) { a.mrsCNTVCT(x0) }, 0xd53be040},
}

// branchSeq is a sequence with forward and backward branches to labels and
// ADRs to image addresses, assembled at image address 0; branchWords is
// what GNU as made of branchGNU.
func branchSeq(a *asm) {
	l0, l1 := a.label(), a.label()
	a.bind(l0)
	a.bcond(condHI, l1)
	a.cbz(x1, l1)
	a.cbnz(30, l0)
	a.tbz(x11, 0, l1)
	a.tbnz(x10, 0, l0)
	a.bind(l1)
	a.tbnz(3, 63, l0)
	a.bcond(condNE, l0)
	a.tbz(5, 31, l1)
	a.bcond(condEQ, l1)
	a.adr(x9, 0)
	a.adr(x1, a.pc()+4099)
	a.adr(x9, a.pc()-4744)
	a.adr(x17, a.pc()-1)
}

const branchGNU = `L0:
b.hi L1
cbz x1, L1
cbnz x30, L0
tbz w11, #0, L1
tbnz w10, #0, L0
L1:
tbnz x3, #63, L0
b.ne L0
tbz w5, #31, L1
b.eq L1
adr x9, L0
adr x1, .+4099
adr x9, .-4744
adr x17, .-1
`

var branchWords = []uint32{
	0x540000a8, 0xb4000081, 0xb5ffffde, 0x3600004b, 0x3707ff8a, 0xb7ffff63,
	0x54ffff41, 0x36ffffc5, 0x54ffffa0, 0x10fffee9, 0x70008001, 0x10ff6bc9,
	0x70fffff1,
}

func TestEncodings(t *testing.T) {
	for _, c := range encCases {
		a := &asm{}
		c.emit(a)
		require.Equal(t, []uint32{c.want}, a.words, "%s: got %#08x", c.gnu, a.words)
	}
	a := &asm{}
	branchSeq(a)
	require.Equal(t, branchWords, a.words)
	require.Len(t, a.bytes(), 4*len(branchWords))
}

func TestEncoderRejects(t *testing.T) {
	require.Panics(t, func() { (&asm{}).movz(x0, 0x10000, 0) })
	require.Panics(t, func() { (&asm{}).ldrX(x0, x1, 4) })                     // not a multiple of 8
	require.Panics(t, func() { (&asm{}).ldrW(x0, x1, 16384) })                 // beyond imm12*4
	require.Panics(t, func() { (&asm{}).ldp(x0, x1, 2, 512) })                 // beyond imm7*8
	require.Panics(t, func() { (&asm{}).adr(x0, 1<<20) })                      // beyond ±1 MiB
	require.Panics(t, func() { (&asm{}).lslImm(x0, x1, 64) })                  // shift too large
	require.Panics(t, func() { a := &asm{}; a.cbz(x0, a.label()); a.bytes() }) // unbound
	require.Panics(t, func() {
		a := &asm{}
		l := a.label()
		a.tbz(x0, 0, l)
		a.words = append(a.words, make([]uint32, 1<<13)...) // past TBZ's ±32 KiB
		a.bind(l)
	})
}

// TestEncodingsMatchGNUAs re-derives the expected words with
// aarch64-linux-gnu-as when it is installed.
func TestEncodingsMatchGNUAs(t *testing.T) {
	as, err := exec.LookPath("aarch64-linux-gnu-as")
	if err != nil {
		t.Skip("aarch64-linux-gnu-as not installed (apt-get install binutils-aarch64-linux-gnu); the words in encCases came from it")
	}
	var src strings.Builder
	for _, c := range encCases {
		src.WriteString(c.gnu + "\n")
	}
	single := gnuWords(t, as, src.String())
	for i, c := range encCases {
		require.Equal(t, c.want, single[i], c.gnu)
	}
	require.Equal(t, branchWords, gnuWords(t, as, branchGNU))
}

// gnuWords assembles src and returns its .text words.
func gnuWords(t *testing.T, as, src string) []uint32 {
	dir := t.TempDir()
	s, o := filepath.Join(dir, "t.s"), filepath.Join(dir, "t.o")
	require.NoError(t, os.WriteFile(s, []byte(src), 0o644))
	out, err := exec.Command(as, "-o", o, s).CombinedOutput()
	require.NoError(t, err, "%s", out)
	objdump := strings.TrimSuffix(as, "as") + "objdump"
	out, err = exec.Command(objdump, "-d", o).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var words []uint32
	for _, m := range regexp.MustCompile(`(?m)^\s+[0-9a-f]+:\s+([0-9a-f]{8})\s`).FindAllStringSubmatch(string(out), -1) {
		w, err := strconv.ParseUint(m[1], 16, 32)
		require.NoError(t, err)
		words = append(words, uint32(w))
	}
	return words
}

// TestCodeKeepsToScratchRegisters: every instruction of every function
// writes only x0–x17 (or XZR): x18 and the callee-saved x19–x30 survive, and
// no instruction names SP (none of the encoder's methods can).
func TestCodeKeepsToScratchRegisters(t *testing.T) {
	a, fns := text(0x280)
	require.Zero(t, a.written&^(1<<18-1), "registers written: %s", regList(a.written))
	require.Len(t, fns, 3)
	// Each function is a leaf ending in RET.
	for _, f := range fns {
		last := a.words[(f.end-a.org)/4-1]
		require.Equal(t, uint32(0xd65f03c0), last, f.name)
	}
}

func regList(m uint32) string {
	var s []string
	for r := 0; r < 32; r++ {
		if m&(1<<r) != 0 {
			s = append(s, fmt.Sprintf("x%d", r))
		}
	}
	return strings.Join(s, " ")
}
