// This file shows a run's progress: a bar on a terminal, else a log line
// every few seconds.

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

// newProgress returns the Engine.Progress callback for a run: a progress
// bar on stderr when it is a terminal, else a log line at most every
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
	p.log.Info("progress", args...)
}

// progressBar counts measured ops against the run's total when the engine
// knows it (open loop, or --ops), else measured time against --duration.
type progressBar struct {
	w      io.Writer
	bar    *progressbar.ProgressBar
	byTime bool
	desc   string // the description shown
}

func (p *progressBar) update(pr load.Progress) {
	desc := "measuring"
	if pr.Elapsed < 0 {
		desc = fmt.Sprintf("warm-up %4.1fs", (-pr.Elapsed).Seconds())
	}
	if p.bar == nil {
		total := pr.Total
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(true),
		}
		if total <= 0 {
			p.byTime, total = true, pr.Duration.Milliseconds()
		} else {
			opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString("ops"), progressbar.OptionShowIts())
		}
		p.bar = progressbar.NewOptions64(total, opts...)
	} else if desc != p.desc {
		p.bar.Describe(desc)
	}
	p.desc = desc
	if p.byTime {
		_ = p.bar.Set64(max(0, min(pr.Elapsed.Milliseconds(), p.bar.GetMax64())))
	} else {
		_ = p.bar.Set64(pr.Done)
	}
	if pr.Final {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}
