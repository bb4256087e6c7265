package target

import "syscall"

// setDeathSignal has the kernel SIGKILL the target when the process that
// started it dies: a chaos worker SIGKILLed from outside takes its target
// with it, as one machine's crash would, and no orphan keeps the store
// open. Strictly the signal follows the OS thread that forked (golang/go
// issue 27505); Go's runtime keeps its threads, so in practice the process.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
