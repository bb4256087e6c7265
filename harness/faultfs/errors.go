package faultfs

import "errors"

// Sentinel errors.
var (
	// ErrUnsupported: the model has no place for this kind of file
	// (symlinks, devices, hard links) or operation.
	ErrUnsupported = errors.New("faultfs: unsupported file type or operation")
	// ErrNoFUSE: this machine cannot mount FUSE (no /dev/fuse, or not root).
	ErrNoFUSE = errors.New("faultfs: FUSE unavailable")
	// ErrClosed: the mount was closed, or its server exited.
	ErrClosed = errors.New("faultfs: mount closed")
	// ErrNotMarked: Recording was asked for before Mark.
	ErrNotMarked = errors.New("faultfs: no recording: call Mark first")
)
