package file

// SetTestHookAfterGlob sets the hook run after each scan's directory
// listing; nil removes it. Set it before the input runs.
func SetTestHookAfterGlob(f func()) { testHookAfterGlob = f }
