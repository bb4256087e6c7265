//go:build unix && !linux

package target

import "syscall"

// setDeathSignal does nothing where the kernel has no parent-death signal:
// a target outlives a worker killed from outside until its stdin closes.
func setDeathSignal(*syscall.SysProcAttr) {}
