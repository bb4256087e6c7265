package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// tagMigrations returns n migrations after the built-in ones, each
// appending "<tag><version>," to the record synth/marker.
func tagMigrations(tag string, n int) []store.Migration {
	ms := store.BuiltinMigrations()
	for i := range n {
		v := store.LatestSchemaVersion() + i + 1
		ms = append(ms, store.Migration{Version: v, Name: fmt.Sprintf("%s-%d", tag, v), Apply: func(ctx context.Context, m *store.MigrationTx) error {
			return m.Rewrite(ctx, "synth", func(key string, val []byte) ([]byte, bool, error) {
				return fmt.Appendf(append([]byte(nil), val...), "%s%d,", tag, v), true, nil
			})
		}})
	}
	return ms
}

// TestMigrate_ParallelStoresOwnLists runs two stores with different
// migration lists at once (run it with -race): each applies its own list and
// nothing else, and changing a list after Open changes nothing.
func TestMigrate_ParallelStoresOwnLists(t *testing.T) {
	ctx := context.Background()
	latest := store.LatestSchemaVersion()
	want := map[string]string{}
	for _, tc := range []struct {
		tag string
		n   int
	}{{"a", 2}, {"b", 3}} {
		var w strings.Builder
		for i := range tc.n {
			fmt.Fprintf(&w, "%s%d,", tc.tag, latest+i+1)
		}
		want[tc.tag] = w.String()
	}
	var wg sync.WaitGroup
	results := map[string]string{}
	versions := map[string]int{}
	var mu sync.Mutex
	for _, tc := range []struct {
		tag string
		n   int
	}{{"a", 2}, {"b", 3}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			list := tagMigrations(tc.tag, tc.n)
			s, err := store.Open(ctx, t.TempDir(), testutil.Options(func(o *store.Options) { o.Migrations = list }))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			if err := s.Put(ctx, "synth", "marker", nil); err != nil {
				t.Error(err)
				return
			}
			// The store copied the list at Open: a change to the caller's
			// slice now is not applied.
			list[len(list)-1].Apply = func(context.Context, *store.MigrationTx) error {
				return errors.New("changed after Open")
			}
			rep, err := s.Migrate(ctx)
			if err != nil {
				t.Errorf("store %s: %v", tc.tag, err)
				return
			}
			v, _ := s.SchemaVersion()
			got, err := s.Get(ctx, "synth", "marker")
			if err != nil {
				t.Errorf("store %s: %v", tc.tag, err)
				return
			}
			mu.Lock()
			results[tc.tag], versions[tc.tag] = string(got), v
			mu.Unlock()
			if len(rep.Applied) != 1+tc.n {
				t.Errorf("store %s applied %d migrations, want %d", tc.tag, len(rep.Applied), 1+tc.n)
			}
		}()
	}
	wg.Wait()
	for tag, n := range map[string]int{"a": 2, "b": 3} {
		if got := results[tag]; got != want[tag] {
			t.Errorf("store %s: marker %q, want %q", tag, got, want[tag])
		}
		if got, want := versions[tag], latest+n; got != want {
			t.Errorf("store %s: schema version %d, want %d", tag, got, want)
		}
	}
}

// TestMigrateWith_AppliesTheGivenList: MigrateWith applies its argument, not
// Options.Migrations, and Migrate then has nothing left to do.
func TestMigrateWith_AppliesTheGivenList(t *testing.T) {
	ctx := context.Background()
	s := testutil.MustOpen(t, t.TempDir())
	if err := s.Put(ctx, "synth", "marker", nil); err != nil {
		t.Fatal(err)
	}
	rep, err := s.MigrateWith(ctx, tagMigrations("w", 1))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.To, store.LatestSchemaVersion()+1; got != want {
		t.Fatalf("MigrateWith went to %d, want %d", got, want)
	}
	if got, _ := s.Get(ctx, "synth", "marker"); string(got) != fmt.Sprintf("w%d,", rep.To) {
		t.Errorf("marker %q", got)
	}
	if rep, err := s.Migrate(ctx); err != nil || len(rep.Applied) != 0 {
		t.Errorf("Migrate after MigrateWith: %+v, %v", rep, err)
	}
}
