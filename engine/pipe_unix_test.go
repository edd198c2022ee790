package engine

import "syscall"

func errBrokenPipe() error { return syscall.EPIPE }
