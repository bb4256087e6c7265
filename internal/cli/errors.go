// This file holds the exit codes, the usage and hint errors, and the
// reporter that turns an error into error and hint lines.

package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes, the same in every tool.
const (
	// ExitOK is success.
	ExitOK = 0
	// ExitFailure is a problem the command found or met: damage, a refusal,
	// a failed run, a regression, a violation.
	ExitFailure = 1
	// ExitUsage is a mistake on the command line: an unknown command or
	// flag, missing arguments, a bad flag value.
	ExitUsage = 2
)

// A UsageError is a mistake on the command line: exit code 2.
type UsageError struct {
	// Msg is the error line.
	Msg string
	// Hint says how to fix the command line; "" for none.
	Hint string
}

// Error returns Msg.
func (e *UsageError) Error() string { return e.Msg }

// UsageErrorf returns a [*UsageError] with the given hint and a message
// formatted as by fmt.Sprintf.
func UsageErrorf(hint, format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// A HintError attaches a hint to an error that is not a usage error, so the
// reporter prints it instead of one it would find itself.
type HintError struct {
	// Err is the error itself.
	Err error
	// Hint says what to do about it.
	Hint string
}

// Error returns the message of Err.
func (e *HintError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *HintError) Unwrap() error { return e.Err }

// WithHint returns err with hint attached.
func WithHint(err error, hint string) error { return &HintError{Err: err, Hint: hint} }

// A Reporter prints a command's error as error and hint lines and turns it
// into an exit code.
type Reporter struct {
	// Program is the name that starts every line.
	Program string
	// Hint says what to do about an error that carries no hint of its own,
	// typically by matching the sentinel errors the tool meets most; it
	// returns "" for none. Nil means no such hints.
	Hint func(err error) string
	// SplitHints moves the "; hint: …" parts that package store ends many
	// messages with onto hint lines of their own. A hint attached with
	// [UsageError] or [WithHint] replaces them, since the tool knows which
	// command ran.
	SplitHints bool
}

// Report prints err on w, the error line and then any hint lines, and
// returns the exit code: [ExitOK] for nil, [ExitUsage] for a [*UsageError],
// else [ExitFailure].
func (r Reporter) Report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	code := ExitFailure
	msg, hints := err.Error(), []string(nil)
	if r.SplitHints {
		parts := strings.Split(msg, "; hint: ")
		msg, hints = parts[0], parts[1:]
	}
	var ue *UsageError
	var he *HintError
	switch {
	case errors.As(err, &ue):
		code = ExitUsage
		hints = []string{ue.Hint}
	case errors.As(err, &he):
		hints = []string{he.Hint}
	case len(hints) == 0 && r.Hint != nil:
		hints = []string{r.Hint(err)}
	}
	fmt.Fprintf(w, "%s: error: %s\n", r.Program, msg)
	for _, h := range hints {
		if h != "" {
			fmt.Fprintf(w, "%s: hint: %s\n", r.Program, h)
		}
	}
	return code
}
