//go:build unix

package fault

import (
	"fmt"
	"io/fs"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// LimitFileSize lets the store's files grow by only limit more bytes:
// RLIMIT_FSIZE set to the largest file's size plus limit, with SIGXFSZ
// ignored so that writes fail with EFBIG instead of killing the process.
// It is for a worker child: the limit holds for the whole process and for
// the processes it starts after it (a target), SIGXFSZ ignored included.
func LimitFileSize(dir string, limit int64) (uint64, error) {
	var largest int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				largest = max(largest, fi.Size())
			}
		}
		return nil
	})
	signal.Ignore(syscall.SIGXFSZ)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &rl); err != nil {
		return 0, fmt.Errorf("disk-full: %w", err)
	}
	rl.Cur = uint64(largest + limit)
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &rl); err != nil {
		return 0, fmt.Errorf("disk-full: setrlimit: %w", err)
	}
	return rl.Cur, nil
}
