#include "textflag.h"

// func boot()
// The ELF entry point (-E main.boot): QEMU starts here with the MMU off.
// It only branches to the trap layer's entry code. Clobbers: nothing.
TEXT ·boot(SB),NOSPLIT|NOFRAME,$0
	B	armos∕microkernel∕internal∕rt·entry(SB)
