//go:build unix

package target

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the target in a process group of its own (see
// killGroup) and, where the kernel can, has it SIGKILLed when the process
// that started it dies (setDeathSignal).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
}

// killGroup kills the target's whole process group, so a wrapper such as
// go run does not leave its child holding the pipes.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Process.Kill()
	}
}
