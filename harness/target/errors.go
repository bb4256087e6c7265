package target

import (
	"errors"
	"syscall"

	"github.com/boxstorm/boxstorm/store"
)

// Sentinel errors of the client. Every error Call returns for a target that
// broke the protocol wraps one of them, so callers can branch with errors.Is.
var (
	// ErrProtocol means the target wrote something that is not a reply: a
	// line that is not JSON, a reply to an id never sent, or a second reply
	// to one id. The client stops the target: nothing it says can be trusted.
	ErrProtocol = errors.New("target broke the protocol")

	// ErrExited means the target exited, or closed its stdout, while
	// requests were in flight.
	ErrExited = errors.New("target exited")

	// ErrTimeout means the target did not answer a request within the
	// client's per-request timeout.
	ErrTimeout = errors.New("target did not answer in time")

	// ErrClosed is returned by Call after Close.
	ErrClosed = errors.New("target client is closed")

	// ErrUnsupported is what a handler returns for a request type it does
	// not answer; Serve sends it as the class unsupported.
	ErrUnsupported = errors.New("request type not supported")
)

// ErrorClass names the class of err from Classes, for a target to put in
// its reply. An *Error keeps its class; the reference store's sentinels map
// as chaos's checks expect (it is the one mapping: harness/chaos should use
// it rather than keep its own); anything else is other.
func ErrorClass(err error) string {
	var te *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		return te.Class
	case errors.Is(err, ErrUnsupported):
		return ClassUnsupported
	case errors.Is(err, store.ErrWrongKey), errors.Is(err, store.ErrBackupWrongKey):
		return ClassWrongKey
	case errors.Is(err, store.ErrSchemaMismatch):
		return ClassSchemaMismatch
	case errors.Is(err, store.ErrBackupTruncated), errors.Is(err, store.ErrBackupTampered),
		errors.Is(err, store.ErrBackupCount), errors.Is(err, store.ErrBackupHash),
		errors.Is(err, store.ErrBackupUnsafeEntry), errors.Is(err, store.ErrBackupFormat):
		return ClassBackupInvalid
	case errors.Is(err, store.ErrSync), errors.Is(err, syscall.EFBIG), errors.Is(err, syscall.ENOSPC):
		return ClassDiskFull
	case errors.Is(err, store.ErrLocked):
		return ClassLocked
	case errors.Is(err, store.ErrStaleToken):
		return ClassStaleToken
	case errors.Is(err, store.ErrCorrupt):
		return ClassCorrupt
	}
	return ClassOther
}

// WireError is err as a reply carries it: its class (ErrorClass), its
// message, and for the reference store's corruption errors the box and
// file offset they name.
func WireError(err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	e := &Error{Class: ErrorClass(err), Message: err.Error()}
	var ce *store.CorruptionError
	if errors.As(err, &ce) {
		e.Box = ce.Box
		if ce.Offset >= 0 {
			off := ce.Offset
			e.Offset = &off
		}
	}
	return e
}
