package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// buildPending makes a store with n enqueued ops (each with an idempotency
// key, so each transaction has several records) and returns the path of
// pending_ops.db and the file size after each transaction.
func buildPending(t *testing.T, n int) (dir, path string, ends []int64) {
	t.Helper()
	dir = t.TempDir()
	s := testutil.MustOpen(t, dir)
	path = filepath.Join(dir, store.BoxPending+".db")
	for i := range n {
		if _, err := s.Enqueue(context.Background(), []byte("payload-"+strconv.Itoa(i)), store.EnqueueOptions{IdempotencyKey: "key-" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, st.Size())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, path, ends
}

func pendingPayloads(t *testing.T, s *store.Store) []string {
	t.Helper()
	ops, err := s.PendingOps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, op := range ops {
		out = append(out, string(op.Payload))
	}
	return out
}

// Open loads the boxes on a goroutine each, or one after another on one P:
// both ways must find and repair the same tear.
func TestOpen_TornTailIsRepairedAndQuarantined(t *testing.T) {
	t.Run("concurrent", testTornTailRepaired)
	t.Run("one P", func(t *testing.T) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		testTornTailRepaired(t)
	})
}

func testTornTailRepaired(t *testing.T) {
	dir, path, ends := buildPending(t, 5)
	orig, _ := os.ReadFile(path)
	// Cut the last transaction in the middle: a torn write. A torn write
	// only ever hits a transaction no checkpoint covers yet (Close covered
	// this one), so the checkpoint goes, as in a store of an older version.
	checkpointState(nil).restore(t, dir)
	cut := ends[3] + (ends[4]-ends[3])/2
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	s := testutil.MustOpen(t, dir)
	if got := pendingPayloads(t, s); len(got) != 4 || got[3] != "payload-3" {
		t.Fatalf("after repair, pending = %v, want payload-0..3", got)
	}
	// The torn transaction is not half visible: its idempotency key is unused.
	op, err := s.Enqueue(context.Background(), []byte("again"), store.EnqueueOptions{IdempotencyKey: "key-4"})
	if err != nil || op.Duplicate {
		t.Errorf("idempotency key of the torn transaction: %+v, %v; want a new op", op, err)
	}
	reps := s.Repairs()
	if len(reps) != 1 || reps[0].Box != store.BoxPending || reps[0].Kind != "torn-tail" || reps[0].Offset != ends[3] {
		t.Fatalf("repairs = %+v", reps)
	}
	for _, k := range reps[0].DroppedKeys {
		if !strings.HasPrefix(k, "op/") && !strings.HasPrefix(k, "idem/") {
			t.Errorf("dropped key %q is not one of the torn transaction's", k)
		}
	}
	q, err := os.ReadFile(reps[0].Quarantine)
	if err != nil || !bytes.Equal(q, orig[:cut]) {
		t.Errorf("quarantine copy %s does not hold the original bytes (err %v, %d vs %d bytes)", reps[0].Quarantine, err, len(q), cut)
	}
	if !strings.HasPrefix(filepath.Base(reps[0].Quarantine), "pending_ops_torntail_") {
		t.Errorf("quarantine name %s", reps[0].Quarantine)
	}
	log, _ := s.AuditLog(context.Background())
	if countEvents(log, store.EventBoxRepaired) != 1 {
		t.Errorf("audit log has no box_repaired entry: %+v", log)
	}
}

func TestOpen_DamageIsReportedNotLoaded(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		damage func(t *testing.T, data []byte, ends []int64) []byte
	}{
		{"length prefix changed", func(t *testing.T, d []byte, ends []int64) []byte {
			// The first "$" length of transaction 2 becomes $999: buntdb alone
			// would silently drop every record after it.
			i := int(ends[0]) + bytes.Index(d[ends[0]:], []byte("\r\n$")) + 2
			j := i + bytes.Index(d[i:], []byte("\r\n"))
			return append(append(append([]byte{}, d[:i+1]...), "999"...), d[j:]...)
		}},
		{"bit flip in a value", func(t *testing.T, d []byte, ends []int64) []byte {
			out := bytes.Clone(d)
			out[ends[1]-10] ^= 0x04
			return out
		}},
		{"bit flip in a key", func(t *testing.T, d []byte, ends []int64) []byte {
			out := bytes.Clone(d)
			i := bytes.Index(out[ends[1]:], []byte("op/"))
			out[int(ends[1])+i+3] ^= 0x01
			return out
		}},
		{"garbage line", func(t *testing.T, d []byte, ends []int64) []byte {
			return splice(d, ends[1], []byte("this is not a record\r\n"))
		}},
		{"blank line", func(t *testing.T, d []byte, ends []int64) []byte { return splice(d, ends[2], []byte("\r\n")) }},
		{"NUL run", func(t *testing.T, d []byte, ends []int64) []byte {
			out := bytes.Clone(d)
			copy(out[ends[1]+5:], make([]byte, 40))
			return out
		}},
		{"inserted NUL run", func(t *testing.T, d []byte, ends []int64) []byte { return splice(d, ends[2], make([]byte, 40)) }},
		{"buntdb panic record", func(t *testing.T, d []byte, ends []int64) []byte {
			return splice(d, ends[1], []byte("*1\r\n$1\r\ns\r\n"))
		}},
		{"whole transaction removed", func(t *testing.T, d []byte, ends []int64) []byte {
			return append(append([]byte{}, d[:ends[1]]...), d[ends[2]:]...)
		}},
		{"first transactions cut away", func(t *testing.T, d []byte, ends []int64) []byte {
			// The file starts with transaction 3, consistent from there on (a
			// FuzzBoxFile find: a replayed range over the start of the file).
			return append([]byte{}, d[ends[1]:]...)
		}},
		{"truncated into acknowledged data", func(t *testing.T, d []byte, ends []int64) []byte {
			// A cut inside transaction 2 with transactions 3-5 still behind it
			// is damage, not a torn tail: cut a hole, keep the rest.
			return append(append([]byte{}, d[:ends[1]+20]...), d[ends[2]:]...)
		}},
		{"changed length in the last transaction", func(t *testing.T, d []byte, ends []int64) []byte {
			i := int(ends[3]) + bytes.Index(d[ends[3]:], []byte("\r\n$")) + 2
			j := i + bytes.Index(d[i:], []byte("\r\n"))
			return append(append(append([]byte{}, d[:i+1]...), "9999"...), d[j:]...)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, path, ends := buildPending(t, 5)
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, c.damage(t, data, ends), 0o600); err != nil {
				t.Fatal(err)
			}
			before := testutil.HashDir(t, dir)
			_, err := store.Open(ctx, dir, testutil.Options())
			var ce *store.CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("open: err = %v, want a CorruptionError", err)
			}
			if ce.Box != store.BoxPending || ce.Offset < 0 || ce.Offset > ends[4] {
				t.Errorf("corruption names box %q offset %d", ce.Box, ce.Offset)
			}
			if !strings.Contains(err.Error(), "offset") || !strings.Contains(err.Error(), "pending_ops") {
				t.Errorf("error does not name box and offset: %v", err)
			}
			after := testutil.HashDir(t, dir)
			for name, h := range before {
				if after[name] != h {
					t.Errorf("%s changed although Open refused the store", name)
				}
			}
			// point-in-time keeps the whole transactions before the damage.
			s, err := store.Open(ctx, dir, testutil.Options(func(o *store.Options) { o.Recovery = store.PointInTime }))
			if err != nil {
				t.Fatalf("point-in-time open: %v", err)
			}
			defer s.Close()
			got := pendingPayloads(t, s)
			for i, p := range got {
				if p != "payload-"+strconv.Itoa(i) {
					t.Fatalf("point-in-time kept %v, not a prefix", got)
				}
			}
			if reps := s.Repairs(); len(reps) != 1 || reps[0].Kind != "damage" {
				t.Errorf("repairs = %+v", reps)
			}
			s.Close()

			// skip-damaged keeps every whole transaction, after the damage too,
			// and never a value that was not written.
			if err := os.WriteFile(path, c.damage(t, data, ends), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err = store.Open(ctx, dir, testutil.Options(func(o *store.Options) { o.Recovery = store.SkipDamaged }))
			if err != nil {
				t.Fatalf("skip-damaged open: %v", err)
			}
			defer s.Close()
			kept := pendingPayloads(t, s)
			for _, p := range kept {
				if !strings.HasPrefix(p, "payload-") {
					t.Errorf("skip-damaged loaded %q, never written", p)
				}
			}
			if len(kept) < 3 {
				t.Errorf("skip-damaged kept only %v of 5 ops", kept)
			}
			if vr, err := s.Verify(ctx); err != nil || !vr.OK() {
				t.Errorf("verify after skip-damaged: %v\n%s", err, vr)
			}
		})
	}
}

func splice(d []byte, at int64, ins []byte) []byte {
	out := append([]byte{}, d[:at]...)
	out = append(out, ins...)
	return append(out, d[at:]...)
}

func TestOpen_StrictRefusesTornTail(t *testing.T) {
	dir, path, ends := buildPending(t, 3)
	if err := os.Truncate(path, ends[2]-3); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(context.Background(), dir, testutil.Options(func(o *store.Options) { o.Recovery = store.Strict }))
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("strict open of a torn tail: err = %v, want ErrCorrupt", err)
	}
}

// A refused Open closes the boxes it had loaded: a fuzzing process that
// opened thousands of damaged stores ran out of descriptors when it did not.
func TestOpen_RefusalLeaksNoDescriptors(t *testing.T) {
	dir, path, ends := buildPending(t, 3)
	if err := os.Truncate(path, ends[2]-3); err != nil {
		t.Fatal(err)
	}
	strict := testutil.Options(func(o *store.Options) { o.Recovery = store.Strict })
	openFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	before := openFDs()
	const opens = 20
	for range opens {
		if _, err := store.Open(context.Background(), dir, strict); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("strict open of a torn tail: err = %v, want ErrCorrupt", err)
		}
	}
	// Every other box loads before pending_ops is refused: a leak shows as
	// several descriptors per Open.
	if after := openFDs(); after-before >= opens {
		t.Errorf("%d refused Opens left %d more descriptors open (%d before)", opens, after-before, before)
	}
}

func TestOpen_NeverPanics(t *testing.T) {
	for name, content := range map[string]string{
		"buntdb panic record": "*1\r\n$1\r\ns\r\n",
		"huge length":         "*3\r\n$3\r\nset\r\n$99999999999\r\n",
		"negative length":     "*3\r\n$-1\r\n",
		"only star":           "*",
		"binary":              "\xff\xfe\x00\x01",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			testutil.MustOpen(t, dir).Close()
			if err := os.WriteFile(filepath.Join(dir, store.BoxFailed+".db"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(context.Background(), dir, testutil.Options())
			if err == nil {
				// Only a torn-tail reading may succeed, and then it loads nothing.
				defer s.Close()
				if ops, _ := s.FailedOps(context.Background()); len(ops) != 0 {
					t.Errorf("loaded %d ops from garbage", len(ops))
				}
			} else if !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestCrash_AcknowledgedEnqueuesSurviveSIGKILL runs enqueues in a child
// process, kills it with SIGKILL mid-stream, and checks that every op the
// child saw acknowledged is there after reopening.
func TestCrash_AcknowledgedEnqueuesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "BOXSTORM_STORE_HELPER=enqueue-loop", "BOXSTORM_STORE_DIR="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]bool{}
		sc := bufio.NewScanner(stdout)
		want := 50 + 40*round
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "acked" {
				acked[f[1]] = true
			}
			if len(acked) == want {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		for sc.Scan() { // drain what the child wrote before it died
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "acked" {
				acked[f[1]] = true
			}
		}
		_ = cmd.Wait()
		if len(acked) < want {
			t.Fatalf("round %d: child acknowledged only %d ops", round, len(acked))
		}
		s, err := store.Open(context.Background(), dir, testutil.Options())
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		ops, err := s.PendingOps(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, op := range ops {
			have[op.ID] = true
		}
		for id := range acked {
			if !have[id] {
				t.Errorf("round %d: acknowledged op %s lost", round, id)
			}
		}
		if rep, err := s.CheckIndex(context.Background()); err != nil || !rep.Clean() {
			t.Errorf("round %d: index after reopen: %+v, %v", round, rep, err)
		}
		s.Close()
		time.Sleep(10 * time.Millisecond)
	}
}
