package fileio

import (
	"io"
	"os"
)

// Appender returns a writer that appends each write to the file at path,
// created (mode 0644) on the first: processes that share a log file each
// write whole lines without holding it open.
func Appender(path string) io.Writer { return appender(path) }

type appender string

func (a appender) Write(b []byte) (int, error) {
	f, err := os.OpenFile(string(a), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Write(b)
}
