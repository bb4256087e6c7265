package faultfs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidwall/buntdb"

	"github.com/boxstorm/boxstorm/harness/faultfs"
)

func TestRecording_OfARealProcedure(t *testing.T) {
	m, ctx := mount(t)
	writeFile(t, m.Dir, "a", "old", true, true)
	if err := m.Mark(ctx); err != nil {
		t.Fatal(err)
	}
	writeFile(t, m.Dir, "tmp", "new", true, false)
	if err := os.Rename(filepath.Join(m.Dir, "tmp"), filepath.Join(m.Dir, "a")); err != nil {
		t.Fatal(err)
	}
	syncDirectory(t, m.Dir)
	rec, err := m.Recording(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []faultfs.OpKind
	for _, o := range rec.Ops {
		kinds = append(kinds, o.Kind)
	}
	want := []faultfs.OpKind{faultfs.OpCreate, faultfs.OpWrite, faultfs.OpFsync, faultfs.OpRename, faultfs.OpFsyncDir}
	if !slices.Equal(kinds, want) {
		t.Fatalf("recorded %v, want %v", kinds, want)
	}
	var states []string
	res, err := faultfs.Explore(ctx, rec, faultfs.ExploreOptions{Dir: t.TempDir()}, func(_ context.Context, s faultfs.CrashState) error {
		states = append(states, listing(t, s.Dir))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// a is wholly old or wholly new in every state, and both occur.
	for _, s := range states {
		if !slices.Contains([]string{"a=old", "a=old tmp=", "a=old tmp=new", "a=new"}, s) {
			t.Errorf("crash state %q: a neither wholly old nor wholly new", s)
		}
	}
	if !slices.Contains(states, "a=old") || !slices.Contains(states, "a=new") {
		t.Errorf("states %q: want both a=old and a=new", states)
	}
	if res.States != len(states) {
		t.Errorf("result says %d states, visit saw %d", res.States, len(states))
	}
}

// A buntdb file on the mount: with SyncPolicy Always every committed Set
// survives a power loss, with Never they are lost. The database is left
// open, as a crash leaves it.
func TestBuntdb_PowerLoss(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  buntdb.SyncPolicy
		survive bool
	}{
		{"always", buntdb.Always, true},
		{"never", buntdb.Never, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ctx := mount(t)
			path := filepath.Join(m.Dir, "box.db")
			// Create the file and make its name durable first: buntdb
			// never fsyncs the directory, and its fsyncs cover data only.
			writeFile(t, m.Dir, "box.db", "", true, true)
			db, err := buntdb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			var cfg buntdb.Config
			if err := db.ReadConfig(&cfg); err != nil {
				t.Fatal(err)
			}
			cfg.SyncPolicy = tc.policy
			cfg.AutoShrinkDisabled = true
			if err := db.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if err := db.Update(func(tx *buntdb.Tx) error {
					_, _, err := tx.Set(fmt.Sprintf("k%02d", i), "v", nil)
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.PowerLoss(ctx, faultfs.LoseUnsynced, 0); err != nil {
				t.Fatal(err)
			}
			_ = db.Close() // its descriptor died with the power
			db2, err := buntdb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db2.Close()
			n := 0
			if err := db2.View(func(tx *buntdb.Tx) error { return tx.Ascend("", func(_, _ string) bool { n++; return true }) }); err != nil {
				t.Fatal(err)
			}
			want := 0
			if tc.survive {
				want = 10
			}
			if n != want {
				t.Fatalf("%d keys after power loss, want %d", n, want)
			}
		})
	}
}
