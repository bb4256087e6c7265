// Command gencorpus writes the fixture store and the seed corpora of the fuzz
// targets in packages fuzz and fuzz/formats:
//
//	testdata/store/                 a real store under inputs.MasterKey, and
//	                                manifest.json: its pending_ops history
//	testdata/fuzz/<Target>/seed-*   seeds in the go test fuzz v1 format
//	formats/testdata/fuzz/<Target>/seed-*
//	                                the same for FuzzScenarioScript and
//	                                FuzzReportReaders
//
// It runs from the fuzz directory, as `go generate ./fuzz/` runs it. It
// replaces every seed-* file and the fixture store, and leaves other corpus
// files (crashers added by hand) alone. Its output is not byte-for-byte
// reproducible (nonces, op ids and buntdb's record order are random), so run
// it only when the store's format or the seeds change, and commit the result.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
	"github.com/boxstorm/boxstorm/internal/archive"
	"github.com/boxstorm/boxstorm/internal/envelope"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/scenarios"
	"github.com/boxstorm/boxstorm/store"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("gencorpus: ")
	repo := flag.String("repo", "..", "repository root, for the scenario and report files")
	out := flag.String("testdata", "testdata", "testdata directory of package fuzz")
	formatsOut := flag.String("formats-testdata", "formats/testdata", "testdata directory of package fuzz/formats")
	flag.Parse()
	if err := run(context.Background(), *repo, *out, *formatsOut); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, repo, out, formatsOut string) error {
	g := &generator{out: out, formatsOut: formatsOut}
	fx, err := buildFixture(ctx, filepath.Join(out, "store"))
	if err != nil {
		return fmt.Errorf("fixture store: %w", err)
	}
	steps := []func() error{
		g.recordOpen,
		func() error { return g.boxFile(fx) },
		func() error { return g.backupArchive(ctx, fx) },
		func() error { return g.scenarioScript(repo) },
		func() error { return g.reportReaders(repo) },
		g.queueModel,
		g.keyFile,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	log.Printf("wrote %d seeds under %s and %s", g.seeds, filepath.Join(out, "fuzz"), filepath.Join(formatsOut, "fuzz"))
	return nil
}

// quiet drops the store's log lines (an erasure's index reconciliation).
var quiet = slog.New(slog.DiscardHandler)

// generator writes seed files.
type generator struct {
	out        string // testdata of package fuzz
	formatsOut string // testdata of package fuzz/formats
	seeds      int
	dirs       map[string]bool
}

// formatTargets are the targets of package fuzz/formats; the others are in
// package fuzz.
var formatTargets = map[string]bool{"FuzzScenarioScript": true, "FuzzReportReaders": true}

// seed writes testdata/fuzz/<target>/seed-<name>, in the target's package,
// with the fuzz arguments args ([]byte, string, uint8 or uint16), in the
// go test fuzz v1 format.
func (g *generator) seed(target, name string, args ...any) error {
	dir := filepath.Join(g.out, "fuzz", target)
	if formatTargets[target] {
		dir = filepath.Join(g.formatsOut, "fuzz", target)
	}
	if g.dirs == nil {
		g.dirs = map[string]bool{}
	}
	if !g.dirs[dir] {
		g.dirs[dir] = true
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		default:
			return fmt.Errorf("seed %s/%s: unsupported argument type %T", target, name, a)
		}
	}
	g.seeds++
	return os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(b.String()), 0o644)
}

// fixture is the fixture store as the generator built it.
type fixture struct {
	dir     string
	pending []byte // pending_ops.db
}

// manifest is testdata/store/manifest.json.
type manifest struct {
	// History holds the pending ops after each transaction of
	// pending_ops.db, in file order: History[k] is what a file cut after
	// its k-th transaction holds.
	History [][]manifestOp `json:"history"`
	// Failed holds the ops in failed_ops.db. A file cut before a Fail's
	// delete holds the op in both boxes, and Open keeps the failed copy.
	Failed []manifestOp `json:"failed"`
}

type manifestOp struct {
	ID      string `json:"id"`
	Payload []byte `json:"payload"`
}

// buildFixture makes a small store that has been through the runbook's
// everyday procedures: an erasure, enqueues with and without idempotency
// keys and subjects, claims, acks, a fail and a retry, a data box and an
// audit entry. Every call that writes pending_ops writes one transaction,
// and the manifest records the pending ops after each.
func buildFixture(ctx context.Context, dst string) (*fixture, error) {
	tmp, err := os.MkdirTemp("", "gencorpus-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "store")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := store.ClockFunc(func() time.Time { now = now.Add(time.Second); return now })
	s, err := store.Open(ctx, dir, store.Options{Key: store.KeyBytes(inputs.MasterKey()), Clock: clock, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	// The erasure rewrites pending_ops; it runs first, and leaves it empty.
	if _, err := s.Enqueue(ctx, []byte("erased payload"), store.EnqueueOptions{Subject: "subject-erased"}); err != nil {
		return nil, err
	}
	if _, err := s.Erase(ctx, "subject-erased"); err != nil {
		return nil, err
	}
	m := manifest{History: [][]manifestOp{{}}}
	snap := func() error {
		ops, err := s.PendingOps(ctx)
		if err != nil {
			return err
		}
		st := []manifestOp{}
		for _, op := range ops {
			st = append(st, manifestOp{ID: op.ID, Payload: op.Payload})
		}
		m.History = append(m.History, st)
		return nil
	}
	enqueue := func(i int, o store.EnqueueOptions) (store.Op, error) {
		op, err := s.Enqueue(ctx, fmt.Appendf(nil, "fixture payload %02d", i), o)
		if err == nil {
			err = snap()
		}
		return op, err
	}
	for i := 1; i <= 6; i++ {
		o := store.EnqueueOptions{}
		switch i {
		case 3:
			o.IdempotencyKey = "order-3"
		case 5:
			o.Subject = "subject-5"
		}
		if _, err := enqueue(i, o); err != nil {
			return nil, err
		}
	}
	lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "fixture-worker"})
	if err != nil {
		return nil, err
	}
	claimThen := func(then func(store.Op) error) error {
		op, err := s.Claim(ctx, lease.Token)
		if err != nil {
			return err
		}
		if err := then(op); err != nil {
			return err
		}
		return snap()
	}
	if err := claimThen(func(op store.Op) error { return s.Ack(ctx, lease.Token, op.ID) }); err != nil {
		return nil, err
	}
	var failed store.Op
	if err := claimThen(func(op store.Op) error {
		var ferr error
		failed, ferr = s.Fail(ctx, lease.Token, op.ID, "fixture failure")
		return ferr
	}); err != nil {
		return nil, err
	}
	if _, err := s.Retry(ctx, failed.ID); err != nil {
		return nil, err
	}
	if err := snap(); err != nil {
		return nil, err
	}
	if op, err := s.Enqueue(ctx, []byte("a repeat adds nothing"), store.EnqueueOptions{IdempotencyKey: "order-3"}); err != nil || !op.Duplicate {
		return nil, fmt.Errorf("repeated enqueue: %v, duplicate %t", err, op.Duplicate)
	}
	if err := claimThen(func(op store.Op) error {
		_, err := s.Fail(ctx, lease.Token, op.ID, "stays failed")
		return err
	}); err != nil {
		return nil, err
	}
	for i := 7; i <= 8; i++ {
		if _, err := enqueue(i, store.EnqueueOptions{IdempotencyKey: fmt.Sprintf("order-%d", i)}); err != nil {
			return nil, err
		}
	}
	for i, v := range []string{"alpha", "beta", "gamma"} {
		if err := s.Put(ctx, "fixture_data", fmt.Sprintf("item-%d", i), []byte(v)); err != nil {
			return nil, err
		}
	}
	if err := s.Audit(ctx, "fixture_built", map[string]any{"by": "gencorpus"}); err != nil {
		return nil, err
	}
	if err := s.ReleaseLock(ctx, lease.Token); err != nil {
		return nil, err
	}
	failedOps, err := s.FailedOps(ctx)
	if err != nil {
		return nil, err
	}
	for _, op := range failedOps {
		m.Failed = append(m.Failed, manifestOp{ID: op.ID, Payload: op.Payload})
	}
	err = s.Close()
	s = nil
	if err != nil {
		return nil, err
	}

	if err := os.RemoveAll(dst); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.Name() == "LOCK" || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return nil, err
		}
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dst, "manifest.json"), append(mb, '\n'), 0o644); err != nil {
		return nil, err
	}
	pending, err := os.ReadFile(filepath.Join(dst, store.BoxPending+".db"))
	if err != nil {
		return nil, err
	}
	if got, want := len(inputs.TxnEnds(pending)), len(m.History)-1; got != want {
		return nil, fmt.Errorf("pending_ops.db has %d transactions, the manifest %d states after the first: a call wrote more or fewer than one", got, want)
	}
	return &fixture{dir: dst, pending: pending}, nil
}

func (g *generator) recordOpen() error {
	const target = "FuzzRecordOpen"
	key := inputs.RecordKey()
	cases := []struct {
		name, box, key string
		pt             []byte
	}{
		{"op", store.BoxPending, "op/0123456789abcdef01234567", []byte("\x01\x02payload")},
		{"empty", store.BoxMetadata, "schema", nil},
		{"json", store.BoxMetadata, "processing_lock", []byte(`{"owner":"w","token":7,"held":true}`)},
		{"index", store.BoxIndex, "0000000000000001/0123456789abcdef01234567", []byte("0123456789abcdef01234567")},
		{"data", "fixture_data", "item-0", bytes.Repeat([]byte("boxstorm "), 100)},
		{"binary-key", store.BoxAudit, "\x00txn", []byte{0, 1, 2, 3}},
	}
	for _, c := range cases {
		sealed, err := sealRecord(key, c.box, c.key, c.pt)
		if err != nil {
			return err
		}
		if err := g.seed(target, c.name, c.box, c.key, sealed); err != nil {
			return err
		}
	}
	// A few that must fail: moved to another key, cut, lengthened, and
	// with an unknown envelope version and key id.
	sealed, err := sealRecord(key, store.BoxPending, "op/a", []byte("moved"))
	if err != nil {
		return err
	}
	bad := map[string][]byte{
		"moved-key": sealed,
		"cut":       sealed[:len(sealed)-1],
		"longer":    append(slices.Clone(sealed), 0),
		"version-9": append([]byte{9}, sealed[1:]...),
		"key-id-2":  append([]byte{sealed[0], 0, 0, 0, 2}, sealed[5:]...),
		"short":     sealed[:28],
	}
	for name, b := range bad {
		k := "op/a"
		if name == "moved-key" {
			k = "op/b"
		}
		if err := g.seed(target, name, store.BoxPending, k, b); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) boxFile(fx *fixture) error {
	const target = "FuzzBoxFile"
	ends := inputs.TxnEnds(fx.pending)
	size := uint32(len(fx.pending))
	mid := uint32(ends[len(ends)/2])
	third := uint32(ends[2])
	d := func(kind inputs.DamageKind, off uint32) inputs.Damage { return inputs.Damage{Kind: kind, Off: off} }
	seeds := map[string]inputs.BoxDamage{
		"none":                 {},
		"torn-tail":            {Damages: []inputs.Damage{d(inputs.Truncate, size-7)}},
		"torn-tail-strict":     {Mode: store.Strict, Damages: []inputs.Damage{d(inputs.Truncate, size-7)}},
		"cut-at-boundary":      {Damages: []inputs.Damage{d(inputs.Truncate, mid)}},
		"cut-mid-file":         {Damages: []inputs.Damage{d(inputs.Truncate, mid+40)}},
		"nul-tail":             {Damages: []inputs.Damage{{Kind: inputs.NULRun, Off: size - 20, Len: 200}}},
		"nul-run-mid":          {Damages: []inputs.Damage{{Kind: inputs.NULRun, Off: third + 10, Len: 40}}},
		"nul-run-pit":          {Mode: store.PointInTime, Damages: []inputs.Damage{{Kind: inputs.NULRun, Off: third + 10, Len: 40}}},
		"garbage-line":         {Damages: []inputs.Damage{{Kind: inputs.InsertGarbage, Off: mid, Data: []byte("garbage line\r\n")}}},
		"garbage-skip-damaged": {Mode: store.SkipDamaged, Damages: []inputs.Damage{{Kind: inputs.InsertGarbage, Off: mid, Data: []byte("*3\r\n$3\r\nset\r\n")}}},
		"flip-value":           {Damages: []inputs.Damage{{Kind: inputs.FlipBit, Off: third + 100, Bit: 3}}},
		"flip-length":          {Damages: []inputs.Damage{{Kind: inputs.FlipBit, Off: third + 1, Bit: 0}}},
		"flip-pit":             {Mode: store.PointInTime, Damages: []inputs.Damage{{Kind: inputs.FlipBit, Off: third + 100, Bit: 3}}},
		"replayed-txn":         {Damages: []inputs.Damage{{Kind: inputs.CopyRange, Off: size, Src: uint32(ends[0]), Len: uint16(ends[1] - ends[0])}}},
		"replayed-txn-skip":    {Mode: store.SkipDamaged, Damages: []inputs.Damage{{Kind: inputs.CopyRange, Off: size, Src: uint32(ends[0]), Len: uint16(ends[1] - ends[0])}}},
		"flip-then-cut":        {Mode: store.PointInTime, Damages: []inputs.Damage{{Kind: inputs.FlipBit, Off: mid + 60, Bit: 1}, d(inputs.Truncate, size-3)}},
	}
	for name, s := range seeds {
		if err := g.seed(target, name, s.Encode()); err != nil {
			return err
		}
	}
	for i, end := range ends[:3] {
		if err := g.seed(target, fmt.Sprintf("cut-txn-%d", i+1), inputs.BoxDamage{Damages: []inputs.Damage{d(inputs.Truncate, uint32(end))}}.Encode()); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) backupArchive(ctx context.Context, fx *fixture) error {
	const target = "FuzzBackupArchive"
	// Real backups: the fixture's own, and one of another store under the
	// same master key (so under the same backup key).
	fixtureTar, err := realBackup(ctx, fx.dir, nil)
	if err != nil {
		return err
	}
	otherTar, err := realBackup(ctx, "", func(s *store.Store) error {
		for i := range 3 {
			if _, err := s.Enqueue(ctx, fmt.Appendf(nil, "other store %d", i), store.EnqueueOptions{IdempotencyKey: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return s.Put(ctx, "zz_new_box", "k", []byte("v"))
	})
	if err != nil {
		return err
	}
	emptyTar, err := realBackup(ctx, "", nil)
	if err != nil {
		return err
	}
	a := func(mode inputs.ArchiveMode, expect bool, body []byte) []byte {
		return inputs.ArchiveInput{Mode: mode, ExpectSchema: expect, Body: body}.Encode()
	}
	seeds := map[string][]byte{
		"fixture-backup":           a(inputs.ArchiveRaw, false, fixtureTar),
		"fixture-backup-expect":    a(inputs.ArchiveRaw, true, fixtureTar),
		"fixture-backup-matched":   a(inputs.ArchiveRawMatched, false, fixtureTar),
		"other-store-backup":       a(inputs.ArchiveRaw, false, otherTar),
		"other-store-matched":      a(inputs.ArchiveRawMatched, true, otherTar),
		"empty-store-backup":       a(inputs.ArchiveRaw, false, emptyTar),
		"fixture-backup-truncated": a(inputs.ArchiveRaw, false, fixtureTar[:len(fixtureTar)/2]),
		"tarbytes":                 a(inputs.ArchiveTarBytes, false, []byte("\x03\x00\x00\x00\x10backup_meta.json\x00\x00\x00\x02{}\x01\x01\x00\x01\x00\x00\x00\x08../../x\x00\x00\x00\x01x\x01\x01\x02\x00\x00\x00\x03/x\x02")),
		"tarfiles":                 a(inputs.ArchiveTarFiles, false, []byte("\x02\x00\x00\x00\x01\x02\x00\x00\x00\x05hello\x01\x01\x00\x01\x00\x00\x00\x01\x06\x00\x00\x00\x03abc\x01\x01\x02\x00\x00\x00\x04link\x01")),
	}
	structured := map[string]inputs.Structured{
		"structured-empty": {SchemaVersion: store.LatestSchemaVersion()},
		"structured-data": {SchemaVersion: store.LatestSchemaVersion(), Boxes: []inputs.StructuredBox{
			{Name: "fixture_data", Records: []inputs.Record{{Key: "item-0", Value: []byte("restored")}}},
		}},
		"structured-new-box": {SchemaVersion: store.LatestSchemaVersion(), Boxes: []inputs.StructuredBox{
			{Name: "zz_new_box", Records: []inputs.Record{{Key: "k", Value: []byte("v")}}},
		}},
		"structured-bad-op": {SchemaVersion: store.LatestSchemaVersion(), Boxes: []inputs.StructuredBox{
			{Name: store.BoxPending, Records: []inputs.Record{{Key: "op/000000000000000000000001", Value: []byte("not an op record")}}},
		}},
		"structured-bad-schema": {SchemaVersion: store.LatestSchemaVersion(), Boxes: []inputs.StructuredBox{
			{Name: store.BoxMetadata, Records: []inputs.Record{{Key: "schema", Value: []byte(`{"schema_version":"two"}`)}}},
		}},
	}
	for name, s := range structured {
		seeds[name] = a(inputs.ArchiveStructured, false, s.Encode())
	}
	for name, b := range seeds {
		if err := g.seed(target, name, b); err != nil {
			return err
		}
	}
	return nil
}

// realBackup returns the plaintext tar stream of a real backup: of a copy
// of the store in dir, or of a new store (dir == "") that prepare fills.
func realBackup(ctx context.Context, dir string, prepare func(*store.Store) error) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "gencorpus-backup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if dir != "" {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".db") && !strings.HasSuffix(e.Name(), ".json") || e.Name() == "manifest.json" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o600); err != nil {
				return nil, err
			}
		}
	}
	s, err := store.Open(ctx, tmp, store.Options{Key: store.KeyBytes(inputs.MasterKey()), Sync: store.SyncNever, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if prepare != nil {
		if err := prepare(s); err != nil {
			return nil, err
		}
	}
	var enc bytes.Buffer
	if _, err := s.Backup(ctx, &enc); err != nil {
		return nil, err
	}
	bk, err := archive.ForMaster(inputs.MasterKey())
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(&enc, bk.Identity())
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func (g *generator) scenarioScript(repo string) error {
	const target = "FuzzScenarioScript"
	files, err := filepath.Glob(filepath.Join(repo, "scenarios", "*.yaml"))
	if err != nil {
		return err
	}
	builtin, err := scenarios.Builtin()
	if err != nil {
		return err
	}
	if len(files) != len(builtin) {
		return fmt.Errorf("%d scenario files but %d built-in scenarios", len(files), len(builtin))
	}
	files = append(files, filepath.Join(repo, "scenarios", "testdata", "full.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		base := filepath.Base(f)
		if err := g.seed(target, strings.TrimSuffix(base, ".yaml"), base, data); err != nil {
			return err
		}
	}
	broken := map[string]string{
		"empty":          "",
		"comment-only":   "# nothing\n",
		"second-doc":     "version: 1\n---\nversion: 1\n",
		"not-a-mapping":  "- version\n",
		"bad-version":    "version: 2\nname: bad-version\n",
		"unknown-field":  "version: 1\nname: unknown-field\nbogus: 1\n",
		"tab-indent":     "version: 1\nstore:\n\tsync: always\n",
		"anchors":        "version: 1\na: &x [1]\nb: *x\n",
		"deep":           strings.Repeat("[", 200),
		"unterminated":   "version: 1\nname: \"unterminated\n",
		"bad-duration":   "version: 1\nname: bad-duration\nstore:\n  stale_after: 5 min\n",
		"negative-ops":   "version: 1\nname: negative-ops\nworkload:\n  ops: -1\n",
		"huge-number":    "version: 1\nname: huge-number\nworkload:\n  ops: 99999999999999999999999\n",
		"flow-mapping":   "{version: 1, name: flow-mapping}\n",
		"null-byte":      "version: 1\nname: \x00\n",
		"crlf":           "version: 1\r\nname: crlf\r\n",
		"crlf-comment":   "version: 1\r\n# a comment\r\nname: crlf-comment\r\nbogus: 1\r\n",
		"bom":            "\ufeffversion: 1\nname: bom\n",
		"duplicate-keys": "version: 1\nversion: 1\n",
	}
	for name, data := range broken {
		if err := g.seed(target, "broken-"+name, name+".yaml", []byte(data)); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) reportReaders(repo string) error {
	const target = "FuzzReportReaders"
	for name, path := range map[string]string{
		"java-hgrm":   filepath.Join(repo, "reports", "testdata", "hgrm", "java.hgrm"),
		"golden-hgrm": filepath.Join(repo, "reports", "testdata", "enqueue.hgrm.golden"),
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := g.seed(target, name, data); err != nil {
			return err
		}
	}
	run := reportRun()
	write := map[string]func(io.Writer) error{
		"hlog": func(w io.Writer) error {
			l, err := reports.NewHlog(run)
			if err != nil {
				return err
			}
			return reports.WriteHlog(w, l)
		},
		"hgrm":    func(w io.Writer) error { return reports.WriteHgrm(w, run.Ops[0].Corrected) },
		"summary": func(w io.Writer) error { return reports.WriteJSON(w, reports.Summarize(run)) },
		"library-hlog": func(w io.Writer) error {
			lw := hdrhistogram.NewHistogramLogWriter(w)
			if err := lw.OutputLogFormatVersion(); err != nil {
				return err
			}
			if err := lw.OutputStartTime(1_700_000_000_000); err != nil {
				return err
			}
			if err := lw.OutputLegend(); err != nil {
				return err
			}
			h := hdrhistogram.New(1, 3_600_000_000, 3)
			for v := int64(1000); v < 5_000_000; v *= 3 {
				_ = h.RecordValue(v)
			}
			h.SetStartTimeMs(1_700_000_000_000)
			h.SetEndTimeMs(1_700_000_001_000)
			h.SetTag("enqueue")
			return lw.OutputIntervalHistogram(h)
		},
	}
	for name, fn := range write {
		var b bytes.Buffer
		if err := fn(&b); err != nil {
			return fmt.Errorf("report seed %s: %w", name, err)
		}
		if err := g.seed(target, name, b.Bytes()); err != nil {
			return err
		}
	}
	// Known issue hlog-totals-memory: 40 tags of the widest geometry
	// ReadHlog accepts make Totals and Run allocate gigabytes.
	wide := hdrhistogram.New(1, 3_600_000_000_000, 5)
	_ = wide.RecordValue(1000)
	enc, err := wide.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return err
	}
	var many bytes.Buffer
	for i := range 40 {
		fmt.Fprintf(&many, "Tag=op%d,0.000,1.000,0.001,%s\n", i, enc)
	}
	if err := g.seed(target, "many-wide-tags", many.Bytes()); err != nil {
		return err
	}
	for name, s := range map[string]string{
		"empty":         "",
		"hlog-bad-line": "#[StartTime: 1700000000.000 (seconds since epoch)]\n0.000,1.000,0.5,notbase64\n",
		"hgrm-no-rows":  "       Value     Percentile TotalCount 1/(1-Percentile)\n\n#[Mean    =            0, StdDeviation   =            0]\n",
		"json-version":  `{"version": 99}`,
	} {
		if err := g.seed(target, name, []byte(s)); err != nil {
			return err
		}
	}
	return nil
}

// reportRun is a small deterministic run of two ops over three intervals,
// in the harness's histogram geometry.
func reportRun() *reports.Run {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	run := &reports.Run{Meta: reports.Meta{ToolVersion: "gencorpus", Seed: 1, Mode: reports.ModeClosed, Workers: 2, Interval: time.Second, Elapsed: 3 * time.Second, Start: start, SyncMode: "never", Workload: "queue"}}
	for i, name := range []string{"claim", "enqueue"} {
		op := reports.OpResult{Name: name, Corrected: hdrhistogram.New(1000, 60e9, 3), Uncorrected: hdrhistogram.New(1000, 60e9, 3)}
		for k := range 3 {
			iv := reports.Interval{Start: time.Duration(k) * time.Second, End: time.Duration(k+1) * time.Second, Corrected: hdrhistogram.NewPacked(1000, 60e9, 3), Uncorrected: hdrhistogram.NewPacked(1000, 60e9, 3)}
			for j := range 20 {
				v := int64((i+1)*(j+1)*(k+1)) * 17_000
				for _, h := range []interface{ RecordValue(int64) error }{iv.Corrected, iv.Uncorrected, op.Corrected, op.Uncorrected} {
					_ = h.RecordValue(v)
				}
			}
			op.Intervals = append(op.Intervals, iv)
		}
		run.Ops = append(run.Ops, op)
	}
	return run
}

func (g *generator) queueModel() error {
	const target = "FuzzQueueModel"
	programs := map[string][]inputs.Step{
		"enqueue-claim-ack":     {step(inputs.OpEnqueue, 0), step(inputs.OpEnqueue, 1), step(inputs.OpAcquire, 0), step(inputs.OpClaim, 0), step(inputs.OpAck, 0), step(inputs.OpClaim, 0), step(inputs.OpAck, 2)},
		"fail-retry":            {step(inputs.OpEnqueue, 0), step(inputs.OpAcquire, 0), step(inputs.OpClaim, 0), step(inputs.OpFail, 0), step(inputs.OpRetry, 0), step(inputs.OpClaim, 0), step(inputs.OpFail, 0), step(inputs.OpRetry, 0)},
		"idempotent":            {step(inputs.OpEnqueue, 0x80), step(inputs.OpEnqueue, 0x80), step(inputs.OpAcquire, 1), step(inputs.OpClaim, 1), step(inputs.OpAck, 1), step(inputs.OpEnqueue, 0x80)},
		"stale-takeover":        {step(inputs.OpEnqueue, 0), step(inputs.OpAcquire, 0), step(inputs.OpClaim, 0), step(inputs.OpAcquire, 1), step(inputs.OpAdvance, 30), step(inputs.OpAcquire, 1), step(inputs.OpAck, 0), step(inputs.OpClaim, 1), step(inputs.OpAck, 1)},
		"heartbeat":             {step(inputs.OpAcquire, 0), step(inputs.OpAdvance, 20), step(inputs.OpHeartbeat, 0), step(inputs.OpAdvance, 20), step(inputs.OpAcquire, 1), step(inputs.OpRelease, 0), step(inputs.OpAcquire, 1)},
		"reopen-mid-claim":      {step(inputs.OpEnqueue, 0), step(inputs.OpEnqueue, 3), step(inputs.OpAcquire, 0), step(inputs.OpClaim, 0), step(inputs.OpReopen, 0), step(inputs.OpAck, 0), step(inputs.OpClaim, 0), step(inputs.OpAck, 0)},
		"kill-after-fail":       {step(inputs.OpEnqueue, 0x81), step(inputs.OpAcquire, 0), step(inputs.OpClaim, 0), step(inputs.OpFail, 0), step(inputs.OpKill, 0), step(inputs.OpRetry, 0), step(inputs.OpKill, 0), step(inputs.OpClaim, 0)},
		"stale-boundary-before": {step(inputs.OpAcquire, 0), step(inputs.OpAdvance, 191), step(inputs.OpAcquire, 1), step(inputs.OpHeartbeat, 0), step(inputs.OpAdvance, 192), step(inputs.OpAcquire, 1)},
		"stale-boundary-at":     {step(inputs.OpEnqueue, 0), step(inputs.OpAcquire, 0), step(inputs.OpClaim, 0), step(inputs.OpAdvance, 192), step(inputs.OpAcquire, 1), step(inputs.OpAck, 0), step(inputs.OpClaim, 1)},
		"release-reclaim":       {step(inputs.OpEnqueue, 0), step(inputs.OpAcquire, 0), step(inputs.OpClaim, 0), step(inputs.OpRelease, 0), step(inputs.OpClaim, 0), step(inputs.OpAcquire, 1), step(inputs.OpClaim, 1), step(inputs.OpClaim, 1)},
	}
	for name, p := range programs {
		if err := g.seed(target, name, inputs.EncodeProgram(p)); err != nil {
			return err
		}
	}
	return nil
}

func step(op inputs.StepOp, arg byte) inputs.Step { return inputs.Step{Op: op, Arg: arg} }

func (g *generator) keyFile() error {
	const target = "FuzzKeyFile"
	key := store.FormatKey(inputs.MasterKey())
	upper := bytes.ToUpper(key)
	type kf struct {
		content []byte
		mode    uint16
		kind    uint8
	}
	seeds := map[string]kf{
		"valid":              {key, 0o600, 0},
		"valid-readonly":     {key, 0o400, 0},
		"world-readable":     {key, 0o644, 0},
		"group-readable":     {key, 0o640, 0},
		"no-newline":         {key[:64], 0o600, 0},
		"uppercase":          {upper, 0o600, 0},
		"crlf":               {append(slices.Clone(key[:64]), '\r', '\n'), 0o600, 0},
		"short":              {key[:63], 0o600, 0},
		"long":               {append(slices.Clone(key[:64]), 'a', '\n'), 0o600, 0},
		"not-hex":            {append([]byte("zz"), key[2:]...), 0o600, 0},
		"empty":              {nil, 0o600, 0},
		"trailing-junk-256":  {append(append(slices.Clone(key), bytes.Repeat([]byte(" "), 200)...), "junk after the first 256 bytes"...), 0o600, 0},
		"base64":             {[]byte("Ym94c3Rvcm0gZnV6eiBtYXN0ZXIga2V5IC0gdGVzdA==\n"), 0o600, 0},
		"symlink":            {key, 0o600, 1},
		"symlink-world":      {key, 0o644, 1},
		"directory":          {nil, 0o700, 2},
		"missing":            {nil, 0o600, 3},
		"passphrase-short":   {[]byte("short"), 0, 4},
		"passphrase-7":       {[]byte("1234567"), 0, 4},
		"passphrase-utf8":    {[]byte("ééé"), 0, 4},
		"passphrase-with-nl": {[]byte("pass\n"), 0, 4},
	}
	for name, s := range seeds {
		if err := g.seed(target, name, s.content, s.mode, s.kind); err != nil {
			return err
		}
	}
	return nil
}

// sealRecord seals pt as the store seals the value of record key in box:
// the record envelope under dataKey as key id 1, with the type id the
// store's registry gives the key.
func sealRecord(dataKey []byte, box, key string, pt []byte) ([]byte, error) {
	s, err := envelope.New(box, 1, map[uint32][]byte{1: dataKey})
	if err != nil {
		return nil, err
	}
	types, err := store.NewRegistry()
	if err != nil {
		return nil, err
	}
	return s.Seal(key, uint16(types.TypeOf(box, key)), pt), nil
}
