//go:build !linux

package main

// fsType is known on Linux only; elsewhere the reports leave it empty.
func fsType(dir string) (string, error) { return "", nil }
