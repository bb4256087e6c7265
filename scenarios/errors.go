package scenarios

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sentinel errors. An *Error wraps one of them where it applies, so
// callers can test with errors.Is.
var (
	// ErrNotFound is returned by Lookup for a name that no built-in
	// scenario has.
	ErrNotFound = errors.New("no such built-in scenario")

	// ErrUnsupportedVersion means the file's version is not
	// CurrentVersion: it was written for another release of boxstorm.
	ErrUnsupportedVersion = errors.New("unsupported scenario format version")

	// ErrTooLarge means the file is larger than MaxSize.
	ErrTooLarge = errors.New("scenario file too large")

	// ErrNotText means the file is not UTF-8 text, or holds a NUL byte:
	// a binary, an image, a file in another encoding.
	ErrNotText = errors.New("not a text file")
)

// MaxQuoted is the most characters of the file's own text an error quotes;
// a longer value is cut there and followed by an ellipsis and its length,
// so that a huge or binary value cannot flood a terminal or a CI log.
const MaxQuoted = 80

// quote quotes s, a piece of the scenario file, for an error message: at
// most MaxQuoted characters, then "…" and the full length in bytes.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	cut, n := 0, 0
	for i := range s {
		if n == MaxQuoted {
			cut = i
			break
		}
		n++
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// Error is a problem with a scenario file. Every error Load and LoadFile
// return is an *Error.
type Error struct {
	// File is the file name as given to Load or LoadFile.
	File string
	// Line is the 1-based line of the offending field, or 0 when the
	// problem is not tied to a line.
	Line int
	// Field is the path of the offending field, such as "workload.ops",
	// "faults[2].at" or "thresholds.enqueue.p99"; sequence indexes count
	// from 0. It is empty when the problem is with the file as a whole.
	Field string
	// Msg says what is wrong.
	Msg string
	// Hint says how to fix it, or is empty.
	Hint string
	// Err is the underlying cause, or nil.
	Err error
}

// Error formats e as "file:line: field name: problem; hint".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }
