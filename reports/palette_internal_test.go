package reports

import (
	"image/color"
	"testing"

	"github.com/boxstorm/boxstorm/opname"
)

// Twelve ops get twelve colours, whatever their names, and no colour is
// the bands' grey.
func TestOpColors_Distinct(t *testing.T) {
	for name, names := range map[string][]string{
		"chaos ops":          {opname.Ack, opname.Acquire, opname.Claim, opname.Enqueue, opname.Fail, opname.Heartbeat, opname.Open, opname.Release},
		"all sharing a slot": {opname.Fail, opname.Get, opname.Erase, opname.Update, opname.Backup, opname.Retry},
		"twelve":             opname.All()[:12],
		"unknown names":      {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"},
	} {
		seen := map[color.Color]string{}
		for i, c := range opColors(names) {
			if o, ok := seen[c]; ok {
				t.Errorf("%s: %s and %s share a colour", name, o, names[i])
			}
			seen[c] = names[i]
			if c == color.Color(bandColor) {
				t.Errorf("%s: %s has the bands' colour", name, names[i])
			}
		}
	}
}

// An op keeps its colour from chart to chart, whatever else is drawn.
func TestOpColors_Stable(t *testing.T) {
	a := opColors([]string{opname.Enqueue, opname.Open})
	b := opColors([]string{opname.Ack, opname.Claim, opname.Enqueue, opname.Heartbeat, opname.Open})
	if a[0] != b[2] || a[1] != b[4] {
		t.Errorf("enqueue and open change colour between charts: %v %v, then %v %v", a[0], a[1], b[2], b[4])
	}
	// The report that had ack and open both red.
	if c := opColors([]string{opname.Ack, opname.Acquire, opname.Claim, opname.Enqueue, opname.Heartbeat, opname.Open, opname.Release}); c[0] == c[5] {
		t.Error("ack and open share a colour")
	}
}
