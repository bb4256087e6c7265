package archive

import (
	"errors"
	"fmt"
)

// Sentinel errors. Read reports every problem with an archive's content
// through exactly one of them (match with errors.Is), with one exception: a
// final chunk that fails authentication matches both ErrTruncated and
// ErrTampered, because age cannot tell a cut from a flipped byte there.
// Each message names the cause and ends with a hint for the operator. No
// message ever contains key material.
var (
	// ErrTruncated means the encrypted stream ends before age's final chunk:
	// the file was cut short.
	ErrTruncated = errors.New("archive truncated: the encrypted stream ends before its final chunk (hint: the file was cut short while it was written or copied; use another copy or an older backup)")

	// ErrTampered means the archive failed authentication, or decrypted
	// cleanly but its tar structure or backup_meta.json is inconsistent.
	ErrTampered = errors.New("archive damaged or tampered with: authentication or structure check failed (hint: the file changed after it was written; use another copy or an older backup)")

	// ErrWrongKey means no identity given to Read matched the archive's
	// recipients.
	ErrWrongKey = errors.New("wrong backup key: no identity matches the archive (hint: use the key the backup was written with; after a key rotation that may be the old key)")

	// ErrSchemaMismatch is matched by *SchemaMismatchError.
	ErrSchemaMismatch = errors.New("backup schema version mismatch (hint: run the migrations, then retry)")

	// ErrCountMismatch means a box's record count or byte count differs from
	// the one backup_meta.json declares.
	ErrCountMismatch = errors.New("box size differs from backup_meta.json (hint: the backup is inconsistent; use an older backup)")

	// ErrHashMismatch means a box dump's SHA-256 differs from the one
	// backup_meta.json declares.
	ErrHashMismatch = errors.New("box checksum differs from backup_meta.json (hint: the backup is inconsistent; use an older backup)")

	// ErrUnsafeEntry is matched by *UnsafeEntryError.
	ErrUnsafeEntry = errors.New("unsafe or unknown archive entry (hint: this file was not written by boxstorm; do not restore it)")

	// ErrUnsupportedFormat means backup_meta.json carries a format_version
	// this package cannot read.
	ErrUnsupportedFormat = errors.New("unsupported backup format version (hint: restore with the boxstorm release that wrote the backup, or a newer one)")

	// ErrInvalidInput means Write was given records it cannot archive: a bad
	// box name, a bad key, keys out of order, or a Records function that
	// yielded a different sequence on its second run.
	ErrInvalidInput = errors.New("invalid records for backup (hint: this is a bug in the caller; no usable archive was written)")
)

// SchemaMismatchError reports that a backup's schema version is not the one
// Read was told to expect.
type SchemaMismatchError struct {
	Want int // schema version the caller expects
	Got  int // schema version recorded in backup_meta.json
}

// Error names both versions and the remedy.
func (e *SchemaMismatchError) Error() string {
	return fmt.Sprintf("backup schema version %d, want %d (hint: run the migrations, then retry)", e.Got, e.Want)
}

// Unwrap returns ErrSchemaMismatch.
func (e *SchemaMismatchError) Unwrap() error { return ErrSchemaMismatch }

// UnsafeEntryError reports a tar entry, or a box name in backup_meta.json,
// that Read refuses: a path that could leave the target directory, a
// link, device or directory, or a name outside the archive layout.
type UnsafeEntryError struct {
	Name   string // entry name as found in the archive
	Reason string // why it was refused
}

// Error quotes the entry name, shortened, so hostile names cannot inject
// terminal escapes or flood a log.
func (e *UnsafeEntryError) Error() string {
	return fmt.Sprintf("unsafe archive entry %s: %s (hint: this file was not written by boxstorm; do not restore it)", quoteName(e.Name), e.Reason)
}

// Unwrap returns ErrUnsafeEntry.
func (e *UnsafeEntryError) Unwrap() error { return ErrUnsafeEntry }

// cutOrDamagedError is returned when the last chunk of the stream fails
// authentication. A cut in the middle of a chunk and a flipped byte in the
// final chunk look the same to age, so it matches both sentinels.
type cutOrDamagedError struct{ cause error }

func (e *cutOrDamagedError) Error() string {
	return fmt.Sprintf("archive truncated or damaged: its last chunk failed authentication (%v) (hint: the file was cut short or changed after it was written; use another copy or an older backup)", e.cause)
}

func (e *cutOrDamagedError) Unwrap() []error { return []error{ErrTruncated, ErrTampered} }

// quoteName quotes an untrusted name for an error message.
func quoteName(s string) string {
	const max = 120
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// tampered wraps ErrTampered with a description of what was inconsistent.
func tampered(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrTampered)
}

// invalidInput wraps ErrInvalidInput with a description of the bad input.
func invalidInput(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidInput)
}
