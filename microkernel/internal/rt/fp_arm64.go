package rt

// fpSaveRest stores the FP/SIMD registers trap code leaves alone (V4-V15,
// V18-V31) into f.Q (fp_arm64.s).
//
//go:noescape
func fpSaveRest(f *Frame)

// fpLoadRest loads those registers from f.Q.
//
//go:noescape
func fpLoadRest(f *Frame)

// fpSwap is fpSaveRest(save), unless save is nil, then fpLoadRest(load).
//
//go:noescape
func fpSwap(save, load *Frame)
