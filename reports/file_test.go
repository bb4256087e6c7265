package reports_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/boxstorm/boxstorm/reports"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out", "run.json")
	err := reports.WriteFile(path, func(w io.Writer) error {
		return reports.WriteJSON(w, reports.Summarize(fixtureRun(1)))
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := reports.ReadSummary(f, path); err != nil {
		t.Fatal(err)
	}

	failing := filepath.Join(dir, "out", "broken.html")
	boom := errors.New("boom")
	if err := reports.WriteFile(failing, func(w io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("a failed write left files behind: %v", entries)
	}
}
