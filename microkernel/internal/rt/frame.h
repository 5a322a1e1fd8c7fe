// Trap frame layout shared by vectors_arm64.s and frame.go (type Frame).
// frame_test.go checks these numbers against unsafe.Offsetof.
#define FRAME_X0	0
#define FRAME_SP	248
#define FRAME_PC	256
#define FRAME_PSTATE	264
#define FRAME_FPSR	272
#define FRAME_FPCR	280
#define FRAME_Q0	288
#define FRAME_SIZE	800
