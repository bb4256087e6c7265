package reports

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes a report to path through write, for example
//
//	err := reports.WriteFile("out/run.html", func(w io.Writer) error {
//		return reports.WriteHTML(w, run, reports.HTMLOptions{})
//	})
//
// It creates missing parent directories, writes to a temporary file in the
// same directory and renames it into place, so a reader never sees half a
// report and a failed write leaves no file behind.
func WriteFile(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create report directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("create report %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	if err := errors.Join(bw.Flush(), f.Chmod(0o644), f.Close()); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

// WriteJSONFile writes v as indented JSON to path, as WriteFile does.
func WriteJSONFile(path string, v any) error {
	return WriteFile(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
