package scenarios_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/boxstorm/boxstorm/scenarios"
)

// FuzzLoad feeds Load arbitrary bytes. Load must not panic, every error
// must be an *Error for the file, and every scenario it accepts must keep
// the invariants the harness relies on.
func FuzzLoad(f *testing.F) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, filepath.Join("testdata", "full.yaml"))
	nameLine := regexp.MustCompile(`(?m)^name: .*$`)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(nameLine.ReplaceAll(data, []byte("name: fuzz")))
	}
	f.Add([]byte(replace("name: t", "name: fuzz")))
	f.Add([]byte("version: 1\nname: [[[{{{\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := scenarios.Load("fuzz.yaml", data)
		if err != nil {
			var e *scenarios.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, want *scenarios.Error", err, err)
			}
			if e.File != "fuzz.yaml" || e.Line < 0 || e.Msg == "" {
				t.Fatalf("malformed error %#v", e)
			}
			_ = err.Error()
			return
		}
		if sc.Name != "fuzz" || sc.Version != scenarios.CurrentVersion || len(sc.Checks) == 0 {
			t.Fatalf("accepted scenario has name %q, version %d, %d checks", sc.Name, sc.Version, len(sc.Checks))
		}
		w := sc.Workload
		if w.Kind != scenarios.WorkloadNone && (w.Ops < 1 || w.QuickOps < 1 || w.QuickOps > w.Ops) {
			t.Fatalf("accepted ops %d, quick_ops %d", w.Ops, w.QuickOps)
		}
		for _, s := range []*scenarios.Scenario{sc, sc.Quick()} {
			lastOp, lastStep := int64(-1), 0
			for i, f := range s.Faults {
				switch f.At.Kind {
				case scenarios.AtStep:
					if f.At.Step <= lastStep {
						t.Fatalf("faults[%d] at %s is out of order", i, f.At)
					}
					lastStep = f.At.Step
				default:
					if lastStep > 0 || f.At.Op < lastOp || f.At.Op > f.At.OpMax || f.At.OpMax > s.Workload.Ops {
						t.Fatalf("faults[%d] at %s is out of order or beyond %d ops", i, f.At, s.Workload.Ops)
					}
					lastOp = f.At.OpMax
				}
			}
		}
	})
}
