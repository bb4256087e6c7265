package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncData makes a box file's data durable with fdatasync. That is enough
// for an append-only file: fdatasync skips only the metadata a later read
// does not need (the times), and flushes the size, which every append
// changes (fdatasync(2); the same rule pebble relies on for its WAL).
// Preallocating the file, which would make it cheaper still, is not safe
// here: buntdb loads a box file to its end and would read the zeros as a
// damaged record, and the scanner would treat them as a torn tail.
func syncData(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
