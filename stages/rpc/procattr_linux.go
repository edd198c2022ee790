package rpc

import "syscall"

// procAttr puts a plugin in its own process group (see cmdRunner.runner)
// and has the kernel kill it when pipe dies, even by kill -9
// (PR_SET_PDEATHSIG), so that no plugin outlives its host. The signal
// follows the thread that started the plugin; Go keeps its threads
// (pipe locks none to a goroutine that exits), so in practice that is the
// process. Plugins built with the SDK also exit by themselves when their
// parent goes (rpcplugin.Serve), which covers other systems.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
