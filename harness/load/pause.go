package load

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Pause is an injected stall: every op that starts in [At, At+For) of the
// measured window waits until At+For before it is performed. The wait
// counts in both corrected and uncorrected latency, as a stall of the
// system under test would.
type Pause struct {
	At  time.Duration // offset from the start of the measured window (after warm-up)
	For time.Duration // length
}

// String formats p as FOR@AT, the syntax ParsePause reads.
func (p Pause) String() string { return fmt.Sprintf("%v@%v", p.For, p.At) }

// ParsePause reads a pause written FOR@AT, such as "2s@8s": block every op
// for 2s starting 8s into the measured window. Both are Go durations.
func ParsePause(s string) (Pause, error) {
	forStr, atStr, ok := strings.Cut(strings.TrimSpace(s), "@")
	if !ok {
		return Pause{}, fmt.Errorf("%w: %q: want DURATION@START, such as 2s@8s (pause 2s, 8s into the measured window)", ErrInvalidPause, s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(forStr))
	if err != nil || d <= 0 {
		return Pause{}, fmt.Errorf("%w: %q: pause length %q is not a positive duration such as 500ms", ErrInvalidPause, s, forStr)
	}
	at, err := time.ParseDuration(strings.TrimSpace(atStr))
	if err != nil || at < 0 {
		return Pause{}, fmt.Errorf("%w: %q: start %q is not a duration of zero or more, such as 8s", ErrInvalidPause, s, atStr)
	}
	return Pause{At: at, For: d}, nil
}

// ParsePauses reads a comma-separated list of pauses, such as
// "2s@8s,500ms@20s", sorted by start. An empty string gives no pauses.
func ParsePauses(s string) ([]Pause, error) {
	var ps []Pause
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		p, err := ParsePause(item)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b Pause) int { return cmp.Compare(a.At, b.At) })
	return ps, nil
}
