package load_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/opname"
	"github.com/boxstorm/boxstorm/store"
)

// targetEnv names the target the test binary plays when re-executed.
const targetEnv = "BOXSTORM_LOAD_TEST_TARGET"

func TestMain(m *testing.M) {
	testutil.QuietRaceExit()
	if mode := os.Getenv(targetEnv); mode != "" {
		os.Exit(playTarget(mode))
	}
	os.Exit(m.Run())
}

// playTarget serves one target on stdin and stdout: the reference store,
// or a misbehaving one.
func playTarget(mode string) int {
	if mode == "store" {
		t := &target.StoreTarget{Options: store.Options{Logger: slog.New(slog.DiscardHandler)}, Version: "test"}
		if err := t.ServeOn(context.Background(), os.Stdin, os.Stdout); err != nil {
			return 1
		}
		return 0
	}
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	var held []uint64
	for in.Scan() {
		var req target.Request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return 3
		}
		if req.Type == target.TypeOpen {
			caps := target.CoreTypes()
			if mode == "partial" { // claims every core type but ack
				caps = slices.DeleteFunc(caps, func(typ string) bool { return typ == target.TypeAck })
			}
			out.Encode(target.Reply{ID: req.ID, Version: target.ProtocolVersion, Target: "fake-" + mode, TargetVer: "0", Capabilities: caps})
			continue
		}
		if req.Type == target.TypeClose {
			out.Encode(target.Reply{ID: req.ID})
			continue
		}
		switch mode {
		case "quad": // answers only once four requests are in flight
			held = append(held, req.ID)
			if len(held) == 4 {
				for i := len(held) - 1; i >= 0; i-- {
					out.Encode(target.Reply{ID: held[i], Op: &target.Op{ID: fmt.Sprint(held[i])}})
				}
				held = nil
			}
		case "stale": // every claim has a stale token
			out.Encode(target.Reply{ID: req.ID, Error: target.Errorf(target.ClassStaleToken, "token %d is not current", req.Token)})
		case "exit": // exits on its fourth request
			if req.ID >= 4 {
				fmt.Fprintln(os.Stderr, "fake: out of memory")
				return 7
			}
			out.Encode(target.Reply{ID: req.ID, Op: &target.Op{ID: "x"}})
		}
	}
	return 0
}

// openTarget dials the test binary as the target mode, opening dir with
// key and settings, and closes it when the test ends.
func openTarget(t *testing.T, mode, dir string, key []byte, settings *target.Settings) *load.TargetBackend {
	t.Helper()
	rem, err := dialTarget(t, mode, dir, key, settings)
	if err != nil {
		t.Fatal(err)
	}
	b, err := load.NewTargetBackend(rem)
	if err != nil {
		rem.Kill()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func dialTarget(t *testing.T, mode, dir string, key []byte, settings *target.Settings) (*target.Remote, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return target.Dial(context.Background(), target.RemoteConfig{
		Command: fmt.Sprintf("'%s'", exe), Dir: dir, Key: key, Settings: settings,
		Options: target.Options{Env: []string{targetEnv + "=" + mode}, Timeout: 10 * time.Second},
	})
}

func TestTargetBackend_Workloads(t *testing.T) {
	for _, wl := range load.StoreWorkloads {
		t.Run(wl.Name, func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "store")
			b := openTarget(t, "store", dir, testutil.Key, &target.Settings{Sync: "never"})
			if got, want := b.Name(), target.StoreTargetName; got != want {
				t.Errorf("Name() = %q, want %q", got, want)
			}
			w, err := load.NewWorkload(ctx, b, wl.Name, load.StoreWorkloadOptions{Workers: 4, ValueSize: 64, Records: 300, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			e := load.NewEngine(w)
			e.Workers, e.Ops, e.Seed, e.Logger = 4, 200, 1, nil
			res, err := e.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, op := range res.Ops {
				total += op.Count()
				if op.Errors > 0 {
					t.Errorf("op %s: %d errors; the target's by class: %v", op.Name, op.Errors, b.Errors())
				}
			}
			if total < 200 {
				t.Errorf("measured %d ops, want 200", total)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if wl.Name != load.WorkloadEnqueue {
				return
			}
			// What the target acknowledged is in the store.
			s := testutil.MustOpen(t, dir)
			pending, err := s.PendingOps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := int64(len(pending)), res.Op(opname.Enqueue).Count(); got < want {
				t.Errorf("the store holds %d ops, want at least the %d enqueues measured", got, want)
			}
		})
	}
}

func TestTargetBackend_RoundTrip(t *testing.T) {
	ctx := context.Background()
	b := openTarget(t, "store", t.TempDir(), testutil.Key, nil)
	rt, err := b.MeasureRoundTrip(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Count != 50 || rt.P50.Ns <= 0 || rt.P99.Ns < rt.P50.Ns {
		t.Errorf("round trip %+v: want 50 requests, 0 < p50 <= p99", rt)
	}
	if errs := b.Errors(); len(errs) != 0 {
		t.Errorf("errors %v", errs)
	}
}

// Four workers keep four requests in flight at once: the fake target
// answers nothing until it holds four, so a backend that sent one at a
// time would never get a reply.
func TestTargetBackend_RequestsInFlight(t *testing.T) {
	ctx := context.Background()
	b := openTarget(t, "quad", t.TempDir(), nil, nil)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = b.Enqueue(ctx, []byte("x")) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestTargetBackend_ErrorsByClass(t *testing.T) {
	ctx := context.Background()
	b := openTarget(t, "stale", t.TempDir(), nil, nil)
	for range 3 {
		_, err := b.Claim(ctx, 7)
		if !errors.Is(err, load.ErrStaleToken) {
			t.Fatalf("claim: %v, want ErrStaleToken", err)
		}
		var te *target.Error
		if !errors.As(err, &te) || te.Class != target.ClassStaleToken {
			t.Errorf("claim: %v, want the reply's *target.Error", err)
		}
	}
	// A request type the target does not claim is not sent, and counted.
	if err := b.Backup(ctx); !errors.Is(err, target.ErrUnsupported) {
		t.Errorf("backup from a target that does not claim it: %v, want ErrUnsupported", err)
	}
	if got := b.Errors(); got[target.ClassStaleToken] != 3 || got[target.ClassUnsupported] != 1 || len(got) != 2 {
		t.Errorf("Errors() = %v, want stale-token 3, unsupported 1", got)
	}
	if b.Err() != nil {
		t.Errorf("a refusal broke the backend: %v", b.Err())
	}
}

func TestTargetBackend_TargetExits(t *testing.T) {
	ctx := context.Background()
	b := openTarget(t, "exit", t.TempDir(), nil, nil)
	var last error
	for range 5 {
		if last = b.Enqueue(ctx, []byte("x")); last != nil {
			break
		}
	}
	if !errors.Is(last, target.ErrExited) {
		t.Fatalf("enqueue after the target exited: %v, want ErrExited", last)
	}
	select {
	case <-b.Broken():
	default:
		t.Fatal("Broken not closed after the target exited")
	}
	if !errors.Is(b.Err(), target.ErrExited) {
		t.Errorf("Err() = %v", b.Err())
	}
	if got := b.Errors()[load.ClassTransport]; got != 1 {
		t.Errorf("transport errors %d, want 1", got)
	}
}

// A target that does not claim every core request type is refused: it is
// not a target loadgen can drive.
func TestNewTargetBackend_MissingCoreTypes(t *testing.T) {
	rem, err := dialTarget(t, "partial", t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Kill()
	_, err = load.NewTargetBackend(rem)
	if !errors.Is(err, target.ErrProtocol) || !strings.Contains(err.Error(), "claims no ack") {
		t.Fatalf("a target that claims no ack: %v, want ErrProtocol naming ack", err)
	}
}
