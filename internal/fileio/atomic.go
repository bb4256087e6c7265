package fileio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrSync means an fsync failed: of the new file or of its directory. The
// store reports it as its own ErrSync, which is this value.
var ErrSync = errors.New("fsync failed")

// WriteAtomic replaces path with what write writes, so that a reader, or a
// crash, sees the old file or the new one and never a mix: write writes a
// temporary file in path's directory, which is fsynced, given mode perm,
// renamed over path, and then the directory is fsynced. On any failure the
// temporary file is removed and path is left as it was; the error wraps
// ErrSync when an fsync failed.
//
// The temporary file is named "."+base(path)+".*.tmp", unique per call, so
// two writers never share one. Only a crash can leave it behind.
func WriteAtomic(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // a second Close just fails
			_ = os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w: %w", path, ErrSync, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The rename is done: path holds the new file even if the directory
	// sync fails, and there is no temporary file left to remove.
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFileAtomic is WriteAtomic for bytes already in memory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncDir fsyncs a directory, so that renames and creations in it are
// durable. An fsync error wraps ErrSync.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w: %w", dir, ErrSync, err)
	}
	return nil
}
