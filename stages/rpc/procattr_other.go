//go:build !linux

package rpc

import "syscall"

// procAttr puts a plugin in its own process group (see cmdRunner.runner).
// Without PR_SET_PDEATHSIG, a plugin built with the SDK exits by itself
// when pipe dies (rpcplugin.Serve watches its parent).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
