package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

func TestRegistry_DuplicateFails(t *testing.T) {
	dec := func([]byte) (any, error) { return nil, nil }
	for _, tc := range []struct {
		name   string
		codecs []store.Codec
		want   string
	}{
		{"two application codecs", []store.Codec{{TypeID: 101, Name: "Room", Decode: dec}, {TypeID: 101, Name: "Device", Decode: dec}}, "already a codec for typeId 101 (Room)"},
		{"an application codec on a store id", []store.Codec{{TypeID: 11, Name: "MyOp", Decode: dec}}, "already a codec for typeId 11 (PendingOp)"},
		{"outside the ranges", []store.Codec{{TypeID: 50, Name: "OutOfRange", Decode: dec}}, "outside the application range"},
		{"in the store's ranges", []store.Codec{{TypeID: 15, Name: "Mine", Decode: dec}}, "outside the application range"},
		{"on a store box", []store.Codec{{TypeID: 150, Name: "Mine", Box: store.BoxPending, Decode: dec}}, "is one of the store's own"},
		{"no decoder", []store.Codec{{TypeID: 150, Name: "Mine"}}, "needs a name and a Decode func"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := store.NewRegistry(tc.codecs...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, store.ErrInvalid) || r != nil {
				t.Fatalf("NewRegistry: %v, %v; want an ErrInvalid saying %q", r, err, tc.want)
			}
		})
	}
	r, err := store.NewRegistry(store.Codec{TypeID: 101, Name: "Room", Box: "rooms", Decode: dec})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.Codecs()); got != 9 {
		t.Errorf("built-in types and one: %d codecs, want 9", got)
	}
	if c, ok := r.Lookup(101); !ok || c.Name != "Room" {
		t.Errorf("Lookup(101) = %+v, %v", c, ok)
	}
}

// TestDuplicateTypeID_FailsAtStartup is the runbook's start-up failure: a
// program that registers a type id twice stops before it opens a store,
// with Hive's message in the store's words.
func TestDuplicateTypeID_FailsAtStartup(t *testing.T) {
	if os.Getenv("BOXSTORM_STORE_DUPLICATE_TYPE") == "1" {
		dec := func([]byte) (any, error) { return nil, nil }
		types, err := store.NewRegistry(store.Codec{TypeID: 120, Name: "Room", Decode: dec}, store.Codec{TypeID: 120, Name: "Device", Decode: dec})
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		s, err := store.Open(context.Background(), t.TempDir(), testutil.Options(func(o *store.Options) { o.Types = types }))
		if err == nil {
			s.Close()
		}
		fmt.Println("opened a store")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDuplicateTypeID_FailsAtStartup$")
	cmd.Env = append(os.Environ(), "BOXSTORM_STORE_DUPLICATE_TYPE=1")
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "opened a store") || !strings.Contains(string(out), "already a codec for typeId 120 (Room)") {
		t.Fatalf("a program with a duplicate type id: err %v, output %s", err, out)
	}
}

// TestRecords_CarryTypeIDs: every record the store writes carries its
// type's id, an application type included, and decodes through the
// registry.
func TestRecords_CarryTypeIDs(t *testing.T) {
	ctx := context.Background()
	type room struct {
		Name string `json:"name"`
	}
	types, err := store.NewRegistry(store.Codec{TypeID: 101, Name: "Room", Box: "rooms", Prefix: "room/", Decode: func(b []byte) (any, error) {
		var r room
		return r, json.Unmarshal(b, &r)
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.Types = types })
	if _, err := s.Enqueue(ctx, []byte("p"), store.EnqueueOptions{IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "rooms", "room/1", []byte(`{"name":"kitchen"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "rooms", "other", []byte("raw")); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]store.TypeID{
		store.BoxPending: {"op/": 11, "idem/": 13},
		store.BoxIndex:   {"": 14},
		"rooms":          {"room/": 101, "other": 0},
	}
	for box, prefixes := range want {
		recs, err := s.Records(ctx, box)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, rec := range recs {
			for p, id := range prefixes {
				if strings.HasPrefix(rec.Key, p) {
					seen[p] = true
					if rec.TypeID != id {
						t.Errorf("%s/%s carries typeId %d, want %d", box, rec.Key, rec.TypeID, id)
					}
				}
			}
			c, v, err := types.Decode(rec)
			if err != nil {
				t.Errorf("decode %s/%s: %v", box, rec.Key, err)
			}
			if rec.TypeID == 101 && (c.Name != "Room" || v.(room).Name != "kitchen") {
				t.Errorf("rooms/%s decoded as %s: %+v", rec.Key, c.Name, v)
			}
		}
		if len(seen) != len(prefixes) {
			t.Errorf("box %s: saw records for %v, want %v", box, seen, prefixes)
		}
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
