package reports

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ms formats a latency in milliseconds with microsecond resolution, the
// unit of every human-readable table.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64)
}

// rate formats ops/s.
func rate(v float64) string {
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// pct formats a signed percentage change.
func pct(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+inf%"
	case math.IsNaN(v):
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", v)
}

// describe returns a one-line description of how a run was made.
func describe(m *Meta) string {
	var parts []string
	switch m.Mode {
	case ModeOpen:
		parts = append(parts, fmt.Sprintf("open loop at %s ops/s", strconv.FormatFloat(m.Rate, 'f', -1, 64)))
	case ModeClosed:
		parts = append(parts, "closed loop")
	case "":
	default:
		parts = append(parts, m.Mode)
	}
	if m.Workers > 0 {
		parts = append(parts, plural(int64(m.Workers), "worker"))
	}
	switch {
	case m.Duration > 0 && m.Warmup > 0:
		parts = append(parts, fmt.Sprintf("%v measured after %v warm-up", m.Duration, m.Warmup))
	case m.Duration > 0:
		parts = append(parts, fmt.Sprintf("%v measured", m.Duration))
	case m.Warmup > 0:
		parts = append(parts, fmt.Sprintf("%v warm-up", m.Warmup))
	}
	if m.SyncMode != "" {
		parts = append(parts, "sync "+m.SyncMode)
	}
	if m.Workload != "" {
		parts = append(parts, "workload "+m.Workload)
	}
	if m.ValueSize > 0 {
		parts = append(parts, fmt.Sprintf("%d B values", m.ValueSize))
	}
	if m.Target != nil {
		parts = append(parts, "target "+m.Target.String())
	}
	if m.StoreDir != "" {
		where := "store " + m.StoreDir
		if m.StoreFS != "" {
			where += " (" + m.StoreFS + ")"
		}
		parts = append(parts, where)
	}
	parts = append(parts, "seed "+strconv.FormatUint(m.Seed, 10))
	if len(m.Pauses) > 0 {
		ps := make([]string, len(m.Pauses))
		for i, p := range m.Pauses {
			ps[i] = p.String()
		}
		parts = append(parts, "pauses "+strings.Join(ps, ","))
	}
	return strings.Join(parts, ", ")
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}

// targetErrors lists a target's errors by class, such as
// "target errors: stale-token 3, transport 1", or "" when there were none.
func targetErrors(m *Meta) string {
	if m.Target == nil || len(m.Target.Errors) == 0 {
		return ""
	}
	var parts []string
	for _, class := range slices.Sorted(maps.Keys(m.Target.Errors)) {
		parts = append(parts, fmt.Sprintf("%s %d", class, m.Target.Errors[class]))
	}
	return "target errors: " + strings.Join(parts, ", ")
}

// opLine is the one-line headline of an op: counts and throughput.
func opLine(o *OpSummary) string {
	s := fmt.Sprintf("%s, %s, %s, %s ops/s", plural(o.Count, "op"), plural(o.Errors, "error"), plural(o.LateStarts, "late start"), rate(o.Throughput))
	if o.Clamped > 0 {
		s += fmt.Sprintf(", %d clamped to the histogram's maximum", o.Clamped)
	}
	return s
}

// HumanDuration formats d for a reader: three significant digits in the
// largest unit below it ("10 ms", "22.9 s", "250 µs"), minutes and hours
// as "3 min 5 s" and "1 h 2 min".
func HumanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + HumanDuration(-d)
	}
	switch {
	case d == 0:
		return "0 s"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + " ns"
	case d < time.Minute:
		units := []struct {
			size time.Duration
			name string
		}{{time.Microsecond, "µs"}, {time.Millisecond, "ms"}, {time.Second, "s"}}
		for i, u := range units {
			v := float64(d) / float64(u.size)
			s := sig3(v)
			// 999.7 µs rounds to 1000 µs: say 1 ms instead.
			if v < 1000 && s != "1000" || i == len(units)-1 {
				return s + " " + u.name
			}
		}
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%d min %d s", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// sig3 formats v, which is at least 1, with three significant digits and
// no trailing zeros: 10, 22.9, 6.93, 125.
func sig3(v float64) string {
	decimals := max(2-int(math.Floor(math.Log10(v))), 0)
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
