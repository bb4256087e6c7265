package faultfs

// KillServerForTest SIGKILLs the server behind the client's back, leaving a
// stale mount, as a crash of the server would.
func KillServerForTest(m *Mount) error {
	if err := m.cmd.Process.Kill(); err != nil {
		return err
	}
	<-m.exited
	return nil
}
