package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

// dirLock is an exclusive flock on <dir>/LOCK. flock locks belong to the
// open file description, so a second Open in the same process conflicts too.
type dirLock struct{ f *os.File }

const lockName = "LOCK"

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		pid := 0
		if b, rerr := os.ReadFile(path); rerr == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
	return err
}

// writeNewFile creates dst, which must not exist, with data, and makes it
// and its directory entry durable.
func writeNewFile(dst string, data []byte) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w: %w", dst, ErrSync, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fileio.SyncDir(filepath.Dir(dst))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// privateDir makes the store directory 0700 when group or others may enter
// it: box files hold record keys in the clear. An operator's mkdir leaves
// 0755 under the usual umask, so Open tightens the mode (and logs it) rather
// than refuse every such directory; it refuses only when it cannot, naming
// the fix. It runs after the key check: a wrong-key Open changes nothing.
func privateDir(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(dir, perm&^0o077); err != nil {
		return fmt.Errorf("open %s: the store directory has mode %04o, open to group or others, and box files hold record keys in the clear; tightening it failed (%v): %w; hint: chmod 700 %s", dir, perm, err, ErrInvalid, dir)
	}
	log.Warn("store directory was open to group or others; tightened", "dir", dir, "mode", fmt.Sprintf("%04o", perm), "now", fmt.Sprintf("%04o", perm&^0o077))
	return nil
}

// createPrivate makes sure path exists with mode 0600 before buntdb opens
// it: buntdb creates files under the umask (0644 as a rule). A box file
// left group- or world-readable by an older version is tightened. created
// says the file is new, so its directory entry still needs an fsync.
func createPrivate(path string) (created bool, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return true, f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, err
	}
	f, err = os.OpenFile(path, os.O_RDONLY, 0o600)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return false, f.Chmod(0o600)
	}
	return false, nil
}
