package faultfs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/harness/faultfs"
)

// handMade is: a holds "old" durably; write "A" to new file tmp; fsync tmp;
// write "B" to tmp; rename tmp to a. The directory is never fsynced.
func handMade() *faultfs.Recording {
	base := faultfs.NewTree()
	base.Inodes[2] = &faultfs.Inode{Mode: 0o644, Data: []byte("old")}
	base.Inodes[1].Entries["a"] = 2
	return &faultfs.Recording{Base: base, Ops: []faultfs.Op{
		{Kind: faultfs.OpCreate, Ino: 3, Dir: 1, Name: "tmp", Mode: 0o644},
		{Kind: faultfs.OpWrite, Ino: 3, Off: 0, Data: []byte("A")},
		{Kind: faultfs.OpFsync, Ino: 3},
		{Kind: faultfs.OpWrite, Ino: 3, Off: 1, Data: []byte("B")},
		{Kind: faultfs.OpRename, Ino: 3, Dir: 1, Name: "tmp", NewDir: 1, NewName: "a"},
	}}
}

func explore(t *testing.T, rec *faultfs.Recording, opts faultfs.ExploreOptions) (*faultfs.Exploration, []string) {
	t.Helper()
	opts.Dir = t.TempDir()
	var states []string
	res, err := faultfs.Explore(context.Background(), rec, opts, func(_ context.Context, s faultfs.CrashState) error {
		states = append(states, s.Boundary+": "+listing(t, s.Dir))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, states
}

func TestExplore_HandMadeRecording(t *testing.T) {
	res, got := explore(t, handMade(), faultfs.ExploreOptions{})
	want := []string{
		// Before the fsync: the create and the write of A are pending.
		"before-fsync: a=old",
		"before-fsync: a=old tmp=",
		"before-fsync: a=old tmp=A",
		// After the rename: A is durable; the create, B and the rename pending.
		"after-rename: a=AB",
		"after-rename: a=A",
		"after-rename: a=old tmp=AB",
	}
	if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Fatalf("states:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.States != len(want) || res.MaxStatesPerBoundary != faultfs.DefaultMaxStatesPerBoundary {
		t.Errorf("result %+v: want %d states, bound %d recorded", res, len(want), faultfs.DefaultMaxStatesPerBoundary)
	}
	for _, b := range res.Boundaries {
		if !b.Exhaustive {
			t.Errorf("boundary %+v not exhaustive under the default bound", b)
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestExplore_RespectsBoundAndSeed(t *testing.T) {
	rec := handMade()
	big := make([]byte, 16*faultfs.SectorSize) // 16 sectors: 2^16 data subsets
	for i := range big {
		big[i] = byte('a' + i/faultfs.SectorSize)
	}
	rec.Ops = append(rec.Ops, faultfs.Op{Kind: faultfs.OpWrite, Ino: 3, Off: 0, Data: big},
		faultfs.Op{Kind: faultfs.OpFsyncDir, Ino: 1})
	opts := faultfs.ExploreOptions{MaxStatesPerBoundary: 5, Seed: 7}
	res, first := explore(t, rec, opts)
	if res.MaxStatesPerBoundary != 5 || res.Seed != 7 {
		t.Errorf("bound and seed not recorded: %+v", res)
	}
	sawInexhaustive := false
	for _, b := range res.Boundaries {
		if b.States > max(5, b.CoreStates) {
			t.Errorf("boundary %+v: more states than the bound and the core", b)
		}
		if !b.Exhaustive && b.Space > 1000 {
			sawInexhaustive = true
			if b.States != max(5, b.CoreStates) {
				t.Errorf("boundary %+v: sampled %d states, want the bound, 5, or the core", b, b.States)
			}
		}
	}
	if !sawInexhaustive {
		t.Error("no boundary exceeded the bound; the test does not test it")
	}
	if _, again := explore(t, rec, opts); !slices.Equal(first, again) {
		t.Errorf("same seed, different states:\n%v\n%v", first, again)
	}
	// Past the fixed candidates (nothing, everything, each cut in log
	// order) the states are drawn from the seed.
	opts.MaxStatesPerBoundary = 40
	_, seven := explore(t, rec, opts)
	opts.Seed = 8
	if _, eight := explore(t, rec, opts); slices.Equal(seven, eight) {
		t.Errorf("seeds 7 and 8 gave the same states")
	}
	// MaxStates cuts everything but the core states of each point.
	opts.MaxStates = 3
	res, got := explore(t, rec, opts)
	if len(got) != res.States || len(got)-res.CoreStates > 3 || !res.Truncated || res.CoreStates < 3 {
		t.Errorf("MaxStates 3: %d states, %d of them core, truncated %v", len(got), res.CoreStates, res.Truncated)
	}
}

// TestExplore_CoreStatesIgnoreTheBound: an in-place rewrite of a durable
// file (truncate, then four sectors, then fsync) is torn in the middle in
// a state the exploration builds under any bound and any seed.
func TestExplore_CoreStatesIgnoreTheBound(t *testing.T) {
	base := faultfs.NewTree()
	old := []byte(strings.Repeat("o", 4*faultfs.SectorSize))
	base.Inodes[2] = &faultfs.Inode{Mode: 0o644, Data: old}
	base.Inodes[1].Entries["a"] = 2
	rec := &faultfs.Recording{Base: base, Ops: []faultfs.Op{
		{Kind: faultfs.OpTruncate, Ino: 2, Size: 0},
		{Kind: faultfs.OpWrite, Ino: 2, Off: 0, Data: []byte(strings.Repeat("n", 4*faultfs.SectorSize))},
		{Kind: faultfs.OpFsync, Ino: 2},
	}}
	half := "before-fsync: a=" + strings.Repeat("n", 2*faultfs.SectorSize)
	empty := "before-fsync: a="
	for _, seed := range []uint64{1, 2, 3} {
		res, got := explore(t, rec, faultfs.ExploreOptions{MaxStatesPerBoundary: 1, MaxStates: 1, Seed: seed})
		if !slices.Contains(got, empty) || !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, half) }) {
			t.Errorf("seed %d: the truncated and the half-written file are missing from %d states", seed, len(got))
		}
		if res.CoreStates == 0 || res.CoreStates != res.States {
			t.Errorf("seed %d: %d states, %d core; want only core states under bound 1", seed, res.States, res.CoreStates)
		}
	}
}

func TestExplore_DirFsyncCoversRenameAcrossDirs(t *testing.T) {
	// A rename made durable by an fsync of its target directory also
	// makes durable the create before it in its source directory, so the
	// file never has both names, nor neither, after the fsync.
	base := faultfs.NewTree()
	rec := &faultfs.Recording{Base: base, Ops: []faultfs.Op{
		{Kind: faultfs.OpMkdir, Ino: 2, Dir: 1, Name: "src"},
		{Kind: faultfs.OpMkdir, Ino: 3, Dir: 1, Name: "dst"},
		{Kind: faultfs.OpFsyncDir, Ino: 1},
		{Kind: faultfs.OpCreate, Ino: 4, Dir: 2, Name: "x"},
		{Kind: faultfs.OpWrite, Ino: 4, Data: []byte("x")},
		{Kind: faultfs.OpFsync, Ino: 4},
		{Kind: faultfs.OpRename, Ino: 4, Dir: 2, Name: "x", NewDir: 3, NewName: "y"},
		{Kind: faultfs.OpFsyncDir, Ino: 3},
	}}
	_, got := explore(t, rec, faultfs.ExploreOptions{})
	if !slices.Contains(got, "after-rename: dst/ dst/y=x src/") {
		t.Fatalf("states %q: want one with the rename whole and no src/x", got)
	}
	for _, s := range got {
		if strings.Contains(s, "src/x") && strings.Contains(s, "dst/y") {
			t.Errorf("state %q has the file under both names", s)
		}
	}
}

func TestExplore_FailedFsyncDropsWritesForGood(t *testing.T) {
	base := faultfs.NewTree()
	base.Inodes[2] = &faultfs.Inode{Mode: 0o644, Data: []byte("old")}
	base.Inodes[1].Entries["f"] = 2
	rec := &faultfs.Recording{Base: base, Ops: []faultfs.Op{
		{Kind: faultfs.OpWrite, Ino: 2, Data: []byte("bad")},
		{Kind: faultfs.OpFsync, Ino: 2, Failed: true},
		{Kind: faultfs.OpWrite, Ino: 2, Off: 3, Data: []byte("+")},
		{Kind: faultfs.OpFsync, Ino: 2},
	}}
	_, got := explore(t, rec, faultfs.ExploreOptions{})
	// Before the failed fsync "bad" may have reached the disk; after it,
	// never: only "+" is pending or durable, over the old bytes.
	want := []string{"before-fsync: f=old", "before-fsync: f=bad", "before-fsync: f=old+"}
	if !slices.Equal(got, want) {
		t.Errorf("states %q, want %q", got, want)
	}
}
