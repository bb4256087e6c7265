package target_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// fakeEnv names the fake target the test binary plays when re-executed.
const fakeEnv = "BOXSTORM_FAKE_TARGET"

func TestMain(m *testing.M) {
	testutil.QuietRaceExit()
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fake(mode))
	}
	os.Exit(m.Run())
}

// self is the command line that re-executes the test binary as fake mode.
func self(t testing.TB, mode string) (string, target.Options) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("'%s'", exe), target.Options{Env: []string{fakeEnv + "=" + mode}, Timeout: 5 * time.Second}
}

// fake runs one fake target on stdin and stdout.
func fake(mode string) int {
	if mode == "store" || mode == "nokey" || mode == "nokey-unpromised" {
		key, _ := store.ParseKey([]byte(os.Getenv("BOXSTORM_FAKE_KEY")))
		t := &target.StoreTarget{Options: store.Options{Key: store.KeyBytes(key)}, Version: "test"}
		var h target.Handler = t
		if mode != "store" {
			// the reference store, deaf to the open's master key, and
			// saying so when unpromised: every promise but keyed
			h = target.HandlerFunc(func(ctx context.Context, req target.Request) (target.Reply, error) {
				req.MasterKey = ""
				rep, err := t.Handle(ctx, req)
				if mode == "nokey-unpromised" && req.Type == target.TypeOpen {
					rep.Promises = slices.DeleteFunc(target.Promises(), func(p string) bool { return p == target.PromiseKeyed })
				}
				return rep, err
			})
		}
		err := target.Serve(context.Background(), os.Stdin, os.Stdout, h)
		t.Close()
		if err != nil {
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
		switch mode {
		case "garbage":
			fmt.Println("this is not json")
		case "exit":
			if req.ID >= 2 {
				fmt.Fprintln(os.Stderr, "fake: giving up")
				return 7
			}
			out.Encode(target.Reply{ID: req.ID})
		case "dies":
			// opens like a target, then exits at the next request
			if req.Type != target.TypeOpen {
				fmt.Fprintln(os.Stderr, "fake: giving up after open")
				return 7
			}
			out.Encode(target.Reply{ID: req.ID, Version: target.ProtocolVersion, Capabilities: target.CoreTypes()})
		case "silent":
			// reads and never answers
		case "mute":
			// opens like a target, then never answers again
			if req.Type == target.TypeOpen {
				out.Encode(target.Reply{ID: req.ID, Version: target.ProtocolVersion, Target: "mute", Capabilities: target.CoreTypes()})
			}
		case "outoforder":
			// answers in pairs, the second request first
			held = append(held, req.ID)
			if len(held) == 2 {
				out.Encode(target.Reply{ID: held[1], Token: held[1]})
				out.Encode(target.Reply{ID: held[0], Token: held[0]})
				held = nil
			}
		case "unknownid":
			out.Encode(target.Reply{ID: req.ID + 100})
		case "duplicate":
			out.Encode(target.Reply{ID: req.ID})
			out.Encode(target.Reply{ID: req.ID})
		case "echo":
			out.Encode(target.Reply{ID: req.ID, Token: req.ID})
		}
	}
	return 0
}
