package target

import "syscall"

// setDeathSignal has the kernel SIGKILL the target when the process that
// started it dies: a chaos worker SIGKILLed from outside takes its target
// with it, as one machine's crash would, and no orphan keeps the store
// open.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
