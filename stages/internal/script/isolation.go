package script

// MemoryBound returns the stage's memory_limit (0: none): the OS limit of
// its child process when it runs with isolation: process (package
// stages/isolate).
func (s *Stage) MemoryBound() int64 { return s.MemoryLimit }

// UseProcessLimit turns the in-process memory guard off: in an isolated
// stage's child the OS limit takes its place.
func (s *Stage) UseProcessLimit() { s.MemoryLimit = 0 }
