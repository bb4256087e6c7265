package failpoint_test

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/boxstorm/boxstorm/internal/failpoint"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		name  string
		after int64
		ok    bool
	}{
		{"enqueue/after-write-before-sync", "enqueue/after-write-before-sync", 1, true},
		{"swap/between-renames@4", "swap/between-renames", 4, true},
		{"swap/between-renames@0", "", 0, false},
		{"swap/between-renames@x", "", 0, false},
		{"swap/between-renames@", "", 0, false},
		{"no/such-point", "", 0, false},
		{"no/such-point@2", "", 0, false},
		{"", "", 0, false},
	} {
		name, after, err := failpoint.Parse(tc.spec)
		if tc.ok != (err == nil) || name != tc.name || after != tc.after {
			t.Errorf("Parse(%q) = %q, %d, %v; want %q, %d, ok %v", tc.spec, name, after, err, tc.name, tc.after, tc.ok)
		}
		if err != nil && !errors.Is(err, failpoint.ErrUnknown) {
			t.Errorf("Parse(%q): %v does not wrap ErrUnknown", tc.spec, err)
		}
	}
}

func TestArm_UnknownName(t *testing.T) {
	if err := failpoint.Arm("no/such-point", 1); !errors.Is(err, failpoint.ErrUnknown) {
		t.Fatalf("Arm of an unknown name: %v", err)
	}
	if got := failpoint.Armed(); got != "" {
		t.Fatalf("after a refused Arm, Armed() = %q", got)
	}
}

func TestNames_IsACopy(t *testing.T) {
	n := failpoint.Names()
	n[0] = "changed"
	if failpoint.Names()[0] == "changed" || !failpoint.Known(failpoint.Names()[0]) {
		t.Fatal("Names returns the package's own slice")
	}
}

// TestHit_KillsAtTheNthHit runs a child that arms a failpoint @3 and hits it
// five times, printing a line before each hit: it must die by SIGKILL after
// exactly two lines.
func TestHit_KillsAtTheNthHit(t *testing.T) {
	if os.Getenv("FAILPOINT_TEST_CHILD") == "1" {
		if err := failpoint.Arm("fail/between-boxes", 3); err != nil {
			os.Exit(3)
		}
		failpoint.Hit("retry/between-boxes") // another point does not count
		for i := 0; i < 5; i++ {
			failpoint.Hit("fail/between-boxes")
			os.Stdout.WriteString("passed\n")
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHit_KillsAtTheNthHit$")
	cmd.Env = append(os.Environ(), "FAILPOINT_TEST_CHILD=1")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not SIGKILLed: %v, output %q", err, out)
	}
	if got, want := string(out), "passed\npassed\n"; got != want {
		t.Errorf("child printed %q before the kill, want %q", got, want)
	}
}

func TestHit_DisarmedIsANoop(t *testing.T) {
	failpoint.Disarm()
	for _, n := range failpoint.Names() {
		failpoint.Hit(n) // would kill the test binary if armed
	}
}
