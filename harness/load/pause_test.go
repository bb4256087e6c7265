package load_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
)

func TestParsePause(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want load.Pause
		ok   bool
	}{
		{"seconds", "2s@8s", load.Pause{At: 8 * time.Second, For: 2 * time.Second}, true},
		{"milliseconds at zero", "500ms@0s", load.Pause{For: 500 * time.Millisecond}, true},
		{"spaces", " 1m @ 1h30m ", load.Pause{At: 90 * time.Minute, For: time.Minute}, true},
		{"no at", "2s", load.Pause{}, false},
		{"swapped", "@2s", load.Pause{}, false},
		{"zero length", "0s@1s", load.Pause{}, false},
		{"negative start", "1s@-1s", load.Pause{}, false},
		{"unitless", "2@8", load.Pause{}, false},
		{"two ats", "1s@2s@3s", load.Pause{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := load.ParsePause(tc.in)
			if !tc.ok {
				if !errors.Is(err, load.ErrInvalidPause) {
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
			if back, err := load.ParsePause(got.String()); err != nil || back != got {
				t.Errorf("String() = %q does not parse back: %v", got.String(), err)
			}
		})
	}
}

func TestParsePauses(t *testing.T) {
	got, err := load.ParsePauses("1s@20s, 2s@8s,")
	if err != nil {
		t.Fatal(err)
	}
	want := []load.Pause{{At: 8 * time.Second, For: 2 * time.Second}, {At: 20 * time.Second, For: time.Second}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v (sorted by start)", got, want)
	}
	if ps, err := load.ParsePauses(""); err != nil || len(ps) != 0 {
		t.Errorf("empty list: %v, %v", ps, err)
	}
	if _, err := load.ParsePauses("1s@2s,bad"); !errors.Is(err, load.ErrInvalidPause) {
		t.Errorf("err = %v, want ErrInvalidPause", err)
	}
}
