package harness_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness"
)

func TestParsePause(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want harness.Pause
		ok   bool
	}{
		{"seconds", "2s@8s", harness.Pause{At: 8 * time.Second, For: 2 * time.Second}, true},
		{"milliseconds at zero", "500ms@0s", harness.Pause{For: 500 * time.Millisecond}, true},
		{"spaces", " 1m @ 1h30m ", harness.Pause{At: 90 * time.Minute, For: time.Minute}, true},
		{"no at", "2s", harness.Pause{}, false},
		{"swapped", "@2s", harness.Pause{}, false},
		{"zero length", "0s@1s", harness.Pause{}, false},
		{"negative start", "1s@-1s", harness.Pause{}, false},
		{"unitless", "2@8", harness.Pause{}, false},
		{"two ats", "1s@2s@3s", harness.Pause{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := harness.ParsePause(tc.in)
			if !tc.ok {
				if !errors.Is(err, harness.ErrInvalidPause) {
					t.Fatalf("ParsePause(%q) err = %v, want ErrInvalidPause", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParsePause(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if back, err := harness.ParsePause(got.String()); err != nil || back != got {
				t.Errorf("String() = %q does not parse back: %v", got.String(), err)
			}
		})
	}
}

func TestParsePauses(t *testing.T) {
	got, err := harness.ParsePauses("1s@20s, 2s@8s,")
	if err != nil {
		t.Fatal(err)
	}
	want := []harness.Pause{{At: 8 * time.Second, For: 2 * time.Second}, {At: 20 * time.Second, For: time.Second}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v (sorted by start)", got, want)
	}
	if ps, err := harness.ParsePauses(""); err != nil || len(ps) != 0 {
		t.Errorf("empty list: %v, %v", ps, err)
	}
	if _, err := harness.ParsePauses("1s@2s,bad"); !errors.Is(err, harness.ErrInvalidPause) {
		t.Errorf("err = %v, want ErrInvalidPause", err)
	}
}
