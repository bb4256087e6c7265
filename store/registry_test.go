package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/store"
)

func TestRegistry_DuplicateFails(t *testing.T) {
	r := store.NewRegistry()
	dec := func([]byte) (any, error) { return nil, nil }
	if err := r.Register(store.Codec{TypeID: 101, Name: "Room", Decode: dec}); err != nil {
		t.Fatal(err)
	}
	err := r.Register(store.Codec{TypeID: 101, Name: "Device", Decode: dec})
	if err == nil || !strings.Contains(err.Error(), "already a codec for typeId 101") || !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("duplicate registration: err = %v", err)
	}
	if err := r.Register(store.Codec{TypeID: 50, Name: "OutOfRange", Decode: dec}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("id outside the ranges: err = %v", err)
	}
	if len(store.Types.Codecs()) < 8 {
		t.Errorf("built-in types: %d", len(store.Types.Codecs()))
	}
}

// TestTypeIDs scans every Go file of the repository for TypeID
// declarations and fails when two share an id: the runbook's CI check, done
// on the source so a collision is caught before any code runs.
func TestTypeIDs(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	re := regexp.MustCompile(`TypeID:\s*(\d+),\s*Name:\s*"([^"]+)"`)
	seen := map[string]string{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			where := filepath.Base(p) + ":" + m[2]
			if prev, ok := seen[m[1]]; ok {
				t.Errorf("typeId %s is declared twice: %s and %s", m[1], prev, where)
			}
			seen[m[1]] = where
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 {
		t.Fatal("found no TypeID declarations: the scan is broken")
	}
}
