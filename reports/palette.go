package reports

// The colours of the charts' op series: twelve that stay apart on a white
// page and beside the grey fault and pause bands, and a preferred one per
// op name, so that an op keeps its colour from chart to chart.

import (
	"image/color"

	"github.com/boxstorm/boxstorm/opname"
)

// palette is Tableau 10 with its grey, too close to the bands, replaced by
// near-black, its yellow darkened to read on white, and navy and olive
// added.
var palette = []color.Color{
	color.NRGBA{R: 0x4e, G: 0x79, B: 0xa7, A: 0xff}, // 0 blue
	color.NRGBA{R: 0xf2, G: 0x8e, B: 0x2b, A: 0xff}, // 1 orange
	color.NRGBA{R: 0xe1, G: 0x57, B: 0x59, A: 0xff}, // 2 red
	color.NRGBA{R: 0x49, G: 0x9c, B: 0x96, A: 0xff}, // 3 teal
	color.NRGBA{R: 0x59, G: 0xa1, B: 0x4f, A: 0xff}, // 4 green
	color.NRGBA{R: 0xb8, G: 0x8a, B: 0x00, A: 0xff}, // 5 dark gold
	color.NRGBA{R: 0xb0, G: 0x7a, B: 0xa1, A: 0xff}, // 6 purple
	color.NRGBA{R: 0xff, G: 0x7f, B: 0x9a, A: 0xff}, // 7 pink
	color.NRGBA{R: 0x9c, G: 0x75, B: 0x5f, A: 0xff}, // 8 brown
	color.NRGBA{R: 0x22, G: 0x22, B: 0x22, A: 0xff}, // 9 near-black
	color.NRGBA{R: 0x1f, G: 0x2f, B: 0x86, A: 0xff}, // 10 navy
	color.NRGBA{R: 0x7a, G: 0x7a, B: 0x00, A: 0xff}, // 11 olive
}

// opSlot is each op's preferred palette entry. Ops that share a chart in
// a shipped scenario or workload have different ones, and ops drawn beside
// enqueue avoid the teal, which a thin line makes hard to tell from blue.
var opSlot = map[string]int{
	opname.Enqueue:    0,
	opname.Claim:      1,
	opname.Ack:        2,
	opname.Fail:       8, // not teal: beside enqueue's blue, thin teal lines read as blue
	opname.Acquire:    4,
	opname.Retry:      3,
	opname.Heartbeat:  6,
	opname.Release:    7,
	opname.Pending:    8,
	opname.Open:       9,
	opname.SecondOpen: 10,
	opname.Recover:    11,
	opname.Get:        3,
	opname.Update:     5,
	opname.Cycle:      6,
	opname.Backup:     5,
	opname.Restore:    8,
	opname.RotateKey:  11,
	opname.Migrate:    10,
	opname.Erase:      6,
}

// opColors gives each of names a colour: its preferred one when no
// earlier name took it, else the first one free. Up to len(palette) names
// get distinct colours; past that they repeat.
func opColors(names []string) []color.Color {
	out := make([]color.Color, len(names))
	taken := make([]bool, len(palette))
	free := func() int {
		for i, t := range taken {
			if !t {
				return i
			}
		}
		return -1
	}
	for i, n := range names {
		slot, ok := opSlot[n]
		if !ok || taken[slot] {
			slot = free()
		}
		if slot < 0 { // more names than colours
			out[i] = palette[i%len(palette)]
			continue
		}
		taken[slot] = true
		out[i] = palette[slot]
	}
	return out
}
