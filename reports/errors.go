package reports

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Errors returned by this package. Match them with errors.Is; the wrapping
// error names the file, line, op or percentile concerned.
var (
	// ErrSyntax marks input that is not in the format the reader expects.
	// It arrives wrapped in a *ParseError that names the file and line.
	ErrSyntax = errors.New("syntax error")

	// ErrUnsupportedVersion is returned by ReadSummary when the summary's
	// "version" field is missing or is not one this build reads.
	ErrUnsupportedVersion = errors.New("unsupported summary version")

	// ErrMergeDropped is returned when merging histograms lost values because
	// the source holds values outside the destination's range. Histograms
	// from different geometries cannot be merged exactly.
	ErrMergeDropped = errors.New("histogram merge dropped values")

	// ErrInvalidOpName is returned for an op name that cannot be used as a
	// report key and .hlog tag (see ValidateOpName).
	ErrInvalidOpName = errors.New("invalid op name")

	// ErrInvalidThreshold is returned by ParseThresholds for a threshold it
	// cannot read.
	ErrInvalidThreshold = errors.New("invalid threshold")
)

// ParseError reports where a reader found bad input.
type ParseError struct {
	File string // name the caller gave the input, such as a path
	Line int    // 1-based line number; 0 when the position is unknown
	Err  error  // what is wrong; wraps ErrSyntax for format errors
}

// Error implements error as "file:line: message".
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// syntaxErr builds a *ParseError wrapping ErrSyntax.
func syntaxErr(file string, line int, format string, args ...any) error {
	return &ParseError{File: file, Line: line, Err: fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))}
}

// UncorrectedTagSuffix is appended to an op name to form the .hlog tag of its
// uncorrected (service time) histograms; the bare op name tags the corrected
// ones.
const UncorrectedTagSuffix = ".uncorrected"

// maxOpNameLen bounds op names so they stay readable in tables and tags.
const maxOpNameLen = 128

// ValidateOpName reports whether name can be used as an op name: it must be
// 1–128 printable characters with no spaces or commas (it becomes an .hlog
// tag) and must not end in UncorrectedTagSuffix.
func ValidateOpName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name: give every op a short name such as \"enqueue\"", ErrInvalidOpName)
	case len(name) > maxOpNameLen:
		return fmt.Errorf("%w: %.20q... is longer than %d bytes: shorten it", ErrInvalidOpName, name, maxOpNameLen)
	case strings.HasSuffix(name, UncorrectedTagSuffix):
		return fmt.Errorf("%w: %q ends in %q, which is reserved for uncorrected histograms: rename the op", ErrInvalidOpName, name, UncorrectedTagSuffix)
	}
	for _, r := range name {
		if r == ',' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %q contains %q; .hlog tags cannot hold spaces, commas or control characters: use '_' or '.' instead", ErrInvalidOpName, name, r)
		}
	}
	return nil
}
