package reports

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

// WriteFile writes a report to path through write, for example
//
//	err := reports.WriteFile("out/run.html", func(w io.Writer) error {
//		return reports.WriteHTML(w, run, reports.HTMLOptions{})
//	})
//
// It creates missing parent directories, writes to a temporary file in the
// same directory, fsyncs and renames it into place (fileio.WriteAtomic), so
// a reader never sees half a report and a failed write leaves no file behind.
func WriteFile(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create report directory: %w", err)
	}
	err := fileio.WriteAtomic(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("report %s: %w", path, err)
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
