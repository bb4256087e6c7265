package formats_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/scenarios"
)

// FuzzScenarioScript loads arbitrary bytes under an arbitrary file name as
// a scenario script. Load never panics, and every error is a
// *scenarios.Error for that file, with a message, whose Line is a line of
// the input and whose text starts with file:line. Line is 0 only for a
// problem with the file as a whole (no Field), as the scenarios package
// documents: a file over MaxSize, an empty file, a YAML error the parser
// gives no position for. A scenario it accepts is named after its file and
// at the current version.
func FuzzScenarioScript(f *testing.F) {
	f.Add("fuzz.yaml", []byte("version: 1\nname: fuzz\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		sc, err := scenarios.Load(name, data)
		if err != nil {
			checkScenarioError(t, name, data, err)
			return
		}
		base := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(name), ".yaml"), ".yml")
		if sc.Name != base || sc.File != name || sc.Version != scenarios.CurrentVersion {
			t.Fatalf("accepted scenario has name %q, file %q, version %d; want %q, %q, %d", sc.Name, sc.File, sc.Version, base, name, scenarios.CurrentVersion)
		}
		_ = sc.Quick()
	})
}

func checkScenarioError(t *testing.T, name string, data []byte, err error) {
	t.Helper()
	e, ok := err.(*scenarios.Error)
	if !ok {
		t.Fatalf("Load error %v is a %T, want a *scenarios.Error", err, err)
	}
	if e.File != name || e.Msg == "" {
		t.Fatalf("Load error %#v does not name file %q or says nothing", e, name)
	}
	lines := lineCount(data)
	switch {
	case e.Line < 0 || e.Line > lines:
		t.Fatalf("Load error %q has line %d; the input has %d lines", err, e.Line, lines)
	case e.Line == 0 && e.Field != "":
		t.Fatalf("Load error %q names field %q but no line", err, e.Field)
	}
	if e.Line > 0 && !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d: ", name, e.Line)) {
		t.Fatalf("Load error %q does not start with %s:%d:", err, name, e.Line)
	}
	// A file with CRLF line ends has its errors at the same lines as the
	// same file with LF ends (when it is the same error). Files with a lone
	// CR are left out: turning CRLF into LF could make a new CRLF of them.
	crlf := bytes.Count(data, []byte("\r\n"))
	if crlf > 0 && crlf == bytes.Count(data, []byte("\r")) {
		lf := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		_, lfErr := scenarios.Load(name, lf)
		if e2, ok := lfErr.(*scenarios.Error); ok && e2.Field == e.Field && e2.Msg == e.Msg && e2.Line != e.Line {
			t.Fatalf("Load error at line %d with CRLF line ends, at line %d with LF: %q", e.Line, e2.Line, err)
		}
	}
}

// lineCount counts lines as YAML does: CRLF, CR and LF each end one.
func lineCount(data []byte) int {
	n := 1
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			n++
		case '\n':
			n++
		}
	}
	return n
}

// TestShippedScenarios loads every shipped scenario from its file, as the
// corpus has them, and checks that Builtin has the same ones.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := scenarios.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(builtin) || len(files) == 0 {
		t.Fatalf("%d scenario files, %d built-in scenarios", len(files), len(builtin))
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := scenarios.Load(filepath.Base(path), data); err != nil {
			t.Errorf("shipped scenario: %v", err)
		}
		seed := filepath.Join("testdata", "fuzz", "FuzzScenarioScript", "seed-"+strings.TrimSuffix(filepath.Base(path), ".yaml"))
		if _, err := os.Stat(seed); err != nil {
			t.Errorf("scenario %s has no seed in the corpus (%v); hint: run go generate ./fuzz/", path, err)
		}
	}
}
