// This file shows a run's progress: a progress bar on a terminal, else a log
// line every few seconds.

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressLogEvery is the least time between two progress log lines when
// stderr is not a terminal: CI logs want a sign of life, not a flood.
const progressLogEvery = 5 * time.Second

// newProgress returns the Engine.Progress callback for a run (an open loop
// when open is set): a progress bar on stderr when it is a terminal, else a
// log line at most every progressLogEvery.
func newProgress(stderr io.Writer, log *slog.Logger, open bool) func(load.Progress) {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return (&progressBar{w: stderr, open: open}).update
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

// progressBar shows the run on a terminal with schollz/progressbar, one bar
// per phase. During the warm-up, a spinner says how long it has left. When
// measuring starts, the spinner goes and a new bar appears: the library
// times its elapsed time, rate and ETA from the bar's own start, so a bar
// made for the measured window counts none of the warm-up. The measuring bar
// counts ops against the run's total when the engine knows it (open loop, or
// --ops); else, a closed loop stopped by time, it is a spinner with the ops
// done, their rate, and the time left in its description.
//
// The measuring bar starts at the first progress report of the measured
// window, up to one report interval after the window opened; it counts the
// ops done since (see measuringSpan), so that the ops before it do not
// inflate its first rates.
type progressBar struct {
	w      io.Writer
	open   bool                     // an open loop: the total and the duration end the run together
	warmup *progressbar.ProgressBar // the warm-up spinner; nil once measuring
	bar    *progressbar.ProgressBar // the measuring bar; nil during the warm-up
	offset int64                    // measured ops done before bar started
	span   int64                    // the ops bar counts to; -1 for a spinner
	desc   string                   // the description shown
}

func (p *progressBar) update(pr load.Progress) {
	if pr.Elapsed < 0 && p.bar == nil {
		p.warmingUp(pr)
		return
	}
	if p.warmup != nil {
		_ = p.warmup.Finish() // cleared: the bar clears on finish
		p.warmup = nil
	}
	desc := measuringDescription(pr, p.open)
	if p.bar == nil {
		// The bar's clock starts now; it draws at the next report, when
		// it has a rate to show.
		p.offset, p.span = measuringSpan(pr)
		p.bar = progressbar.NewOptions64(p.span, measuringOptions(p.w, desc, p.span)...)
		p.bar.StartWithoutRender()
		p.desc = desc
	} else {
		n := pr.Done - p.offset
		if p.span > 0 {
			n = min(n, p.span) // the last ops may drain past the total
		}
		_ = p.bar.Set64(n)
		if desc != p.desc {
			p.bar.Describe(desc)
			p.desc = desc
		}
	}
	if pr.Final {
		_ = p.bar.Finish()
	}
}

// warmingUp shows the warm-up spinner, and clears it if the run ended
// during the warm-up.
func (p *progressBar) warmingUp(pr load.Progress) {
	desc := warmupDescription(pr)
	switch {
	case p.warmup == nil:
		p.warmup = progressbar.NewOptions64(-1, append(commonOptions(p.w, desc),
			progressbar.OptionSetElapsedTime(false), // the time left is in the description
		)...)
		_ = p.warmup.RenderBlank()
	case desc != p.desc:
		p.warmup.Describe(desc)
	}
	p.desc = desc
	if pr.Final {
		_ = p.warmup.Finish()
	}
}

// commonOptions are the options of both phases' bars.
func commonOptions(w io.Writer, desc string) []progressbar.Option {
	return []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		// No OptionThrottle: the engine reports every
		// load.DefaultProgressInterval, and a throttle would drop the
		// redraw of a new description made right after a new count.
		progressbar.OptionClearOnFinish(),             // leave the terminal clean for the results
		progressbar.OptionSpinnerType(14),             // braille dots
		progressbar.OptionSetSpinnerChangeInterval(0), // turn on each report: no drawing goroutine
		progressbar.OptionSetPredictTime(false),
	}
}

// measuringOptions are the options of the measuring bar over span ops, or
// of a spinner when span is -1.
func measuringOptions(w io.Writer, desc string, span int64) []progressbar.Option {
	opts := append(commonOptions(w, desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("ops"),
		progressbar.OptionSetElapsedTime(true),
	)
	if span < 0 {
		return append(opts, progressbar.OptionShowTotalBytes(false))
	}
	return append(opts,
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(true), // the ETA
	)
}

// measuringSpan returns what the measuring bar counts when it starts at pr:
// the ops done before it (left out of its count) and the ops it will count,
// or -1, a spinner, when the run's total is unknown. A total already reached
// leaves a span of 1 op, so that the bar finishes at once.
func measuringSpan(pr load.Progress) (offset, span int64) {
	if pr.Total <= 0 {
		return pr.Done, -1
	}
	return pr.Done, max(pr.Total-pr.Done, 1)
}

// warmupDescription is the warm-up spinner's description at pr: the phase,
// the time it has left, and what measuring will do.
func warmupDescription(pr load.Progress) string {
	desc := fmt.Sprintf("warm-up, %.1fs left", (-pr.Elapsed).Seconds())
	switch {
	case pr.Duration > 0:
		return desc + ", then measuring for " + pr.Duration.String()
	case pr.Total > 0:
		return fmt.Sprintf("%s, then measuring %d ops", desc, pr.Total)
	}
	return desc
}

// measuringDescription is the measuring bar's description at pr. The bar
// shows the ETA when it counts toward the run's end: an open loop (whose
// total and duration end it together) or a run by count only. Else the
// description says the time left: all of it for a closed loop stopped by
// time (a spinner), and at most that for a closed loop stopped by count or
// time, whichever comes first.
func measuringDescription(pr load.Progress, open bool) string {
	if pr.Duration <= 0 || (open && pr.Total > 0) {
		return "measuring"
	}
	// Rounded up, so that it adds up to the duration with the bar's
	// elapsed time, which the library rounds down.
	left := (max(pr.Duration-pr.Elapsed, 0) + time.Second - 1).Truncate(time.Second)
	if pr.Total > 0 {
		return fmt.Sprintf("measuring, at most %v left", left)
	}
	return fmt.Sprintf("measuring, %v left", left)
}

// measuredRate returns the measured ops per second of the measured window
// so far: 0 during the warm-up or before any time has passed.
func measuredRate(pr load.Progress) float64 {
	if pr.Elapsed <= 0 {
		return 0
	}
	return float64(pr.Done) / pr.Elapsed.Seconds()
}
