package chaos_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/boxstorm/boxstorm/harness/chaos"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/scenarios"
)

// procTestMode makes the processor processes of a test misbehave: the
// test binary, standing in for chaos, reads it in init (procTestChild),
// before it runs the worker.
const procTestMode = "BOXSTORM_TEST_PROCESS_MODE"

// procTestChild is a processor process gone wrong, for the tests that
// need one: it prints a line that is not an event, or crashes.
func procTestChild() {
	if len(os.Args) < 2 || os.Args[1] != chaos.WorkerCommand || !slices.Contains(os.Args, "--process") {
		return
	}
	switch os.Getenv(procTestMode) {
	case "garbage":
		fmt.Println("this is not an event")
		os.Exit(0)
	case "crash":
		fmt.Fprintln(os.Stderr, "processor test child: crashing on purpose")
		os.Exit(3)
	}
}

// procScenario is a small mixed workload: one producer, one processor
// goroutine and two processor processes.
func procScenario(t *testing.T) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Load("processor-processes.yaml", []byte(`version: 1
name: processor-processes
description: one processor goroutine and two processor processes share the harness's store.
protection: fencing
store:
  sync: never
  stale_after: 2s
workload:
  kind: mixed
  producers: 1
  processors: 1
  processes: 2
  ops: 300
checks: [fencing, linearizable, no-loss, no-unexpected, duplicates, fifo]
`))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestProcessorProcesses_InHistory(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	res, err := chaos.RunScenario(context.Background(), procScenario(t), chaos.RunOptions{Seed: 3, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != check.VerdictPass {
		t.Fatalf("verdict %s, want pass:\n%s", res.Verdict, describe(res))
	}
	if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.HasPrefix(n, "2 of 2 processor processes ran") }) {
		t.Errorf("no note that both processes ran: %v", res.Notes)
	}
	evs, err := history.ReadHistoryFile(filepath.Join(res.Dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	acquired := map[string]bool{}
	var goroutine int
	for _, e := range evs {
		// Every lock call, in the harness or a process, carries the
		// caller's clock reading that lock-takeover judges by.
		if (e.Kind == history.KindAcquire || e.Kind == history.KindHeartbeat) && e.In.Clock == 0 {
			t.Errorf("%s: %s records no caller's clock reading", e.Client, e.Kind)
		}
		proc, _, ok := strings.Cut(e.Client, "/")
		switch {
		case ok && strings.HasPrefix(proc, "process-"):
			calls[proc]++
			if e.Return < e.Call {
				t.Errorf("%s: %s returns at %d, before its call at %d", e.Client, e.Kind, e.Return, e.Call)
			}
			if e.Kind == history.KindAcquire && e.Out.Outcome == history.OutcomeOK {
				acquired[proc] = true
			}
		case strings.HasPrefix(e.Client, "processor-"):
			goroutine++
		}
	}
	for _, p := range []string{"process-0", "process-1"} {
		if calls[p] == 0 {
			t.Errorf("no call of %s in the merged history (%v)", p, calls)
		}
	}
	if goroutine == 0 {
		t.Error("no call of the goroutine processor in the merged history")
	}
	if len(acquired) == 0 {
		t.Errorf("no processor process ever took the lock: %v", calls)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "procs.sock")); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestProcessorProcesses_Canary(t *testing.T) {
	t.Parallel()
	// The processes must not hide a fencing violation: the scenario's stall
	// makes processor 0 ack with a stale token, which the canary accepts.
	res := runChaos(t, "concurrent-processors", true, 5)
	if !res.Caught() {
		t.Fatalf("canary not caught:\n%s", describe(res))
	}
}

// Not parallel: t.Setenv reaches every child started meanwhile.
func TestProcessorProcesses_ChildFails(t *testing.T) {
	for _, tc := range []struct{ name, mode, exe, want string }{
		{name: "garbage", mode: "garbage", want: "unreadable event line 1"},
		{name: "crash", mode: "crash", want: "exited: exit status 3"},
		{name: "no-binary", exe: "/nonexistent/chaos", want: "0 of 2 processor processes started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(procTestMode, tc.mode)
			res, err := chaos.RunScenario(context.Background(), procScenario(t), chaos.RunOptions{Seed: 3, OutDir: t.TempDir(), Exe: tc.exe})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(describe(res))
			if res.Verdict != check.VerdictUnknown {
				t.Errorf("verdict %s, want unknown:\n%s", res.Verdict, describe(res))
			}
			var msg string
			for _, c := range res.Checks {
				if c.Name == chaos.CheckFaultsInjected {
					msg = c.Message
				}
			}
			if !strings.Contains(msg, "process-0") || !strings.Contains(msg, tc.want) {
				t.Errorf("faults-injected says %q, want process-0 and %q", msg, tc.want)
			}
			if _, err := os.Stat(filepath.Join(res.Dir, "procs.sock")); !os.IsNotExist(err) {
				t.Errorf("socket left behind: %v", err)
			}
		})
	}
}
