// This file shows a run's progress: a status line on a terminal, else a log
// line every few seconds.

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
	"golang.org/x/term"
)

// progressLogEvery is the least time between two progress log lines when
// stderr is not a terminal: CI logs want a sign of life, not a flood.
const progressLogEvery = 5 * time.Second

// progressDrawEvery is the least time between two redraws of the status
// line on a terminal.
const progressDrawEvery = 100 * time.Millisecond

// newProgress returns the Engine.Progress callback for a run: a status
// line on stderr when it is a terminal, else a log line at most every
// progressLogEvery.
func newProgress(stderr io.Writer, log *slog.Logger) func(load.Progress) {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return (&progressBar{w: stderr}).update
	}
	p := &progressLog{log: log, last: time.Now()}
	return p.update
}

type progressLog struct {
	log  *slog.Logger
	last time.Time
}

func (p *progressLog) update(pr load.Progress) {
	now := time.Now()
	if pr.Final || now.Sub(p.last) < progressLogEvery {
		return
	}
	p.last = now
	if pr.Elapsed < 0 {
		p.log.Info("warming up", "left", (-pr.Elapsed).Round(100*time.Millisecond))
		return
	}
	args := []any{"done", pr.Done, "elapsed", pr.Elapsed.Round(100 * time.Millisecond)}
	if pr.Total > 0 {
		args = append(args, "total", pr.Total)
	}
	if pr.Duration > 0 {
		args = append(args, "duration", pr.Duration)
	}
	if r := measuredRate(pr); r > 0 {
		args = append(args, "ops_per_s", fmt.Sprintf("%.0f", r))
	}
	p.log.Info("progress", args...)
}

// progressBar redraws one status line in place: the phase, a bar, the
// measured ops, their true rate and the time left. It draws the line
// itself, because a generic progress bar times its rate and ETA from its
// own creation, warm-up included.
type progressBar struct {
	w    io.Writer
	last time.Time
}

func (p *progressBar) update(pr load.Progress) {
	now := time.Now()
	if pr.Final {
		fmt.Fprint(p.w, "\r\x1b[K") // leave the terminal clean for the results
		return
	}
	if now.Sub(p.last) < progressDrawEvery {
		return
	}
	p.last = now
	fmt.Fprintf(p.w, "\r%s\x1b[K", progressLine(pr))
}

// progressBarWidth is the number of cells of the bar.
const progressBarWidth = 24

// progressLine renders the status line for pr. During the warm-up it shows
// the time left of it; while measuring, the share done, ops done (of the
// total when known), the rate over the measured window only, the measured
// time elapsed (the warm-up excluded) and the time left.
func progressLine(pr load.Progress) string {
	if pr.Elapsed < 0 {
		then := ""
		switch {
		case pr.Duration > 0:
			then = ", then measuring for " + pr.Duration.String()
		case pr.Total > 0:
			then = fmt.Sprintf(", then measuring %d ops", pr.Total)
		}
		return fmt.Sprintf("warm-up    %5.1fs left%s", (-pr.Elapsed).Seconds(), then)
	}
	rate := measuredRate(pr)
	var frac float64
	var left time.Duration
	known := true
	switch {
	case pr.Duration > 0:
		// A timed run ends at Duration (an open loop's Total is
		// Rate×Duration, reached at the same time); --ops may end it
		// sooner.
		frac = pr.Elapsed.Seconds() / pr.Duration.Seconds()
		left = pr.Duration - pr.Elapsed
		if pr.Total > 0 && rate > 0 {
			byCount := time.Duration(float64(pr.Total-pr.Done) / rate * float64(time.Second))
			if byCount < left {
				frac, left = float64(pr.Done)/float64(pr.Total), byCount
			}
		}
	case pr.Total > 0:
		frac = float64(pr.Done) / float64(pr.Total)
		if rate > 0 {
			left = time.Duration(float64(pr.Total-pr.Done) / rate * float64(time.Second))
		} else {
			known = false
		}
	default:
		known = false
	}
	frac = min(max(frac, 0), 1)
	left = max(left, 0)
	filled := int(frac * progressBarWidth)
	var b strings.Builder
	fmt.Fprintf(&b, "measuring [%s%s] %3.0f%%  %d", strings.Repeat("#", filled), strings.Repeat("-", progressBarWidth-filled), frac*100, pr.Done)
	if pr.Total > 0 {
		fmt.Fprintf(&b, "/%d", pr.Total)
	}
	fmt.Fprintf(&b, " ops  %.0f ops/s  elapsed %.1fs", rate, pr.Elapsed.Seconds())
	if known {
		fmt.Fprintf(&b, "  ETA %.1fs", left.Seconds())
	}
	return b.String()
}

// measuredRate returns the measured ops per second of the measured window
// so far: 0 during the warm-up or before any time has passed.
func measuredRate(pr load.Progress) float64 {
	if pr.Elapsed <= 0 {
		return 0
	}
	return float64(pr.Done) / pr.Elapsed.Seconds()
}
