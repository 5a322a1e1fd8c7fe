package tcp

// CheckInvariants exposes the engine's consistency check to the external
// tests and fuzz targets.
func (s *Stack) CheckInvariants() error { return s.checkInvariants() }
