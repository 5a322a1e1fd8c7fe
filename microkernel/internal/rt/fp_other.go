//go:build !arm64

package rt

// On the host there are no FP/SIMD registers to move: Frames are all.

func fpSaveRest(f *Frame)      {}
func fpLoadRest(f *Frame)      {}
func fpSwap(save, load *Frame) {}
