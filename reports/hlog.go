package reports

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Hlog is an HdrHistogram interval log held in memory: a sequence of
// tagged interval histograms. Each op's corrected histograms are tagged
// with the op name and its uncorrected ones with the op name followed by
// UncorrectedTagSuffix.
type Hlog struct {
	// Start is the log's start time, from its "#[StartTime:" line. It is the
	// zero Time for a log without one; interval offsets are then the raw
	// timestamps.
	Start     time.Time
	Intervals []HlogInterval
}

// HlogInterval is one line of an interval log.
type HlogInterval struct {
	Tag    string
	Start  time.Duration // offset from Hlog.Start, at microsecond resolution
	Length time.Duration
	Hist   *hdrhistogram.PackedHistogram // values in nanoseconds
}

// NewHlog lays out run's interval histograms as an interval log, ordered by
// interval start and then by tag. The log shares the run's histograms.
func NewHlog(run *Run) (*Hlog, error) {
	if err := run.Validate(); err != nil {
		return nil, fmt.Errorf("build .hlog: %w", err)
	}
	l := &Hlog{Start: run.Meta.Start}
	for i := range run.Ops {
		op := &run.Ops[i]
		for _, iv := range op.Intervals {
			if iv.Corrected == nil || iv.Uncorrected == nil {
				return nil, fmt.Errorf("build .hlog: op %q interval at %v has no histogram: fill both (an empty interval needs empty histograms)", op.Name, iv.Start)
			}
			length := iv.End - iv.Start
			l.Intervals = append(l.Intervals,
				HlogInterval{Tag: op.Name, Start: iv.Start, Length: length, Hist: iv.Corrected},
				HlogInterval{Tag: op.Name + UncorrectedTagSuffix, Start: iv.Start, Length: length, Hist: iv.Uncorrected})
		}
	}
	l.sort()
	return l, nil
}

func (l *Hlog) sort() {
	slices.SortStableFunc(l.Intervals, func(a, b HlogInterval) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), strings.Compare(a.Tag, b.Tag))
	})
}

// WriteHlog writes l in the HdrHistogram interval log format (version 1.3),
// readable by HdrHistogram's HistogramLogProcessor and LogAnalyzer. Times
// are written to the millisecond.
func WriteHlog(w io.Writer, l *Hlog) error {
	bw := bufio.NewWriter(w)
	lw := hdrhistogram.NewHistogramLogWriter(bw)
	var baseMs int64
	if err := lw.OutputLogFormatVersion(); err != nil {
		return fmt.Errorf("write .hlog: %w", err)
	}
	if !l.Start.IsZero() {
		// The library's OutputStartTime drops the milliseconds; Java writes
		// them, so write the same lines by hand.
		baseMs = l.Start.UnixMilli()
		secs := float64(baseMs) / 1000
		iso := time.UnixMilli(baseMs).UTC().Format("2006-01-02T15:04:05.000Z07:00")
		if err := lw.OutputComment(fmt.Sprintf("[StartTime: %.3f (seconds since epoch), %s]", secs, iso)); err != nil {
			return fmt.Errorf("write .hlog: %w", err)
		}
		if err := lw.OutputComment(fmt.Sprintf("[BaseTime: %.3f (seconds since epoch)]", secs)); err != nil {
			return fmt.Errorf("write .hlog: %w", err)
		}
		lw.SetBaseTime(baseMs)
	}
	if err := lw.OutputComment(fmt.Sprintf("[boxstorm: values in ns; tag <op> is latency from intended start, <op>%s is service time]", UncorrectedTagSuffix)); err != nil {
		return fmt.Errorf("write .hlog: %w", err)
	}
	if err := lw.OutputLegend(); err != nil {
		return fmt.Errorf("write .hlog: %w", err)
	}
	for i, iv := range l.Intervals {
		if iv.Tag != "" {
			if err := validTag(iv.Tag); err != nil {
				return fmt.Errorf("write .hlog: interval %d: %w", i, err)
			}
		}
		// Tag and times live on the histogram; set them on a copy so the
		// caller's run is left untouched.
		h := iv.Hist.Clone()
		h.SetTag(iv.Tag)
		h.SetStartTimeMs(baseMs + iv.Start.Milliseconds())
		h.SetEndTimeMs(baseMs + (iv.Start + iv.Length).Milliseconds())
		if err := lw.OutputIntervalPackedHistogram(h); err != nil {
			return fmt.Errorf("write .hlog: interval %d (tag %q at %v): %w", i, iv.Tag, iv.Start, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write .hlog: %w", err)
	}
	return nil
}

// validTag accepts op names and their uncorrected tags.
func validTag(tag string) error {
	return ValidateOpName(strings.TrimSuffix(tag, UncorrectedTagSuffix))
}

// maxHlogLine bounds one line of an interval log. A fully populated
// histogram of our geometry compresses to well under a megabyte.
const maxHlogLine = 16 << 20

// secondsPerYear is the threshold HdrHistogram readers use to tell relative
// timestamps from absolute ones.
const secondsPerYear = 365 * 24 * 3600.0

// ReadHlog parses an HdrHistogram interval log (format 1.2 or 1.3, tagged
// or not), from this package or from HdrHistogram's tools. name labels
// errors, which are *ParseError values naming name and the line. Unlike the
// library's reader it rejects malformed lines instead of skipping them.
func ReadHlog(r io.Reader, name string) (*Hlog, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxHlogLine)
	var (
		l                 = &Hlog{}
		line              int
		startSec, baseSec float64
		haveStart         bool
		haveBase          bool
		absolute          []float64 // absolute start of each interval, seconds
		tagBuckets        = map[string]int64{}
		totalBuckets      int64
	)
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(text) == "":
			continue
		case strings.HasPrefix(text, "#[StartTime:"):
			v, err := leadingFloat(strings.TrimPrefix(text, "#[StartTime:"))
			if err != nil {
				return nil, syntaxErr(name, line, "StartTime: %v", err)
			}
			startSec, haveStart = v, true
			continue
		case strings.HasPrefix(text, "#[BaseTime:"):
			v, err := leadingFloat(strings.TrimPrefix(text, "#[BaseTime:"))
			if err != nil {
				return nil, syntaxErr(name, line, "BaseTime: %v", err)
			}
			baseSec, haveBase = v, true
			continue
		case strings.HasPrefix(text, "#"), strings.HasPrefix(text, `"StartTimestamp"`):
			continue
		}
		tag := ""
		if rest, ok := strings.CutPrefix(text, "Tag="); ok {
			t, body, ok := strings.Cut(rest, ",")
			if !ok || t == "" {
				return nil, syntaxErr(name, line, "Tag= without a tag and a comma: want Tag=NAME,start,length,max,histogram")
			}
			tag, text = t, body
		}
		f := strings.SplitN(text, ",", 4)
		if len(f) != 4 {
			return nil, syntaxErr(name, line, "want [Tag=NAME,]start,length,max,histogram, got %d fields", len(f))
		}
		ts, err1 := parseFinite(f[0])
		length, err2 := parseFinite(f[1])
		_, err3 := parseFinite(f[2])
		if err := errors.Join(err1, err2, err3); err != nil || length < 0 || math.Abs(ts) > 1e10 || length > 1e9 {
			return nil, syntaxErr(name, line, "bad start %.30q, length %.30q or max %.30q: want seconds as decimals", f[0], f[1], f[2])
		}
		h, err := hdrhistogram.DecodePacked([]byte(strings.TrimSpace(f[3])))
		if err != nil {
			return nil, &ParseError{File: name, Line: line, Err: fmt.Errorf("%w: decode histogram: %w", ErrSyntax, err)}
		}
		if n := denseCounts(h); n > maxDenseCounts {
			return nil, syntaxErr(name, line, "histogram geometry [%d, %d] at %d digits needs %d buckets, more than the %d this reader loads",
				h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), n, maxDenseCounts)
		}
		// Totals and Run expand every tag into dense histograms, so the sum
		// over tags is bounded too, not only each histogram.
		if n := denseCounts(h); n > tagBuckets[tag] {
			totalBuckets += n - tagBuckets[tag]
			tagBuckets[tag] = n
			if totalBuckets > maxTotalDenseCounts {
				return nil, syntaxErr(name, line, "the tags' histograms need %d buckets in all, more than the %d this reader loads", totalBuckets, int64(maxTotalDenseCounts))
			}
		}
		h.SetTag("")
		if !haveStart {
			// HdrHistogram's rule: without a StartTime line the first
			// interval's timestamp is the start.
			startSec, haveStart = ts, true
			if ts < secondsPerYear {
				startSec = 0 // relative timestamps and no start: keep them as they are
			}
		}
		if !haveBase {
			// Timestamps more than a year before the start are relative to it.
			if ts < startSec-secondsPerYear {
				baseSec = startSec
			}
			haveBase = true
		}
		absolute = append(absolute, baseSec+ts)
		l.Intervals = append(l.Intervals, HlogInterval{Tag: tag, Length: secondsToDuration(length), Hist: h})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, syntaxErr(name, line+1, "line longer than %d MiB: not an interval log", maxHlogLine>>20)
		}
		return nil, &ParseError{File: name, Line: line, Err: fmt.Errorf("read .hlog: %w", err)}
	}
	if haveStart && startSec != 0 {
		l.Start = time.UnixMilli(int64(math.Round(startSec * 1000))).UTC()
	}
	for i := range l.Intervals {
		l.Intervals[i].Start = secondsToDuration(absolute[i] - startSec)
	}
	return l, nil
}

// maxDenseCounts bounds the geometry of histograms ReadHlog accepts, since
// Totals expands each tag into a dense histogram: 4M buckets (32 MiB). The
// harness geometry needs 18k; HdrHistogram's widest common one (1 ns to 1 h
// at 5 digits) 3.3M.
const maxDenseCounts = 1 << 22

// maxTotalDenseCounts bounds the dense buckets of all tags together (64 MiB
// per expansion): hundreds of tags of the harness geometry, two of the widest.
const maxTotalDenseCounts = 1 << 23

// denseCounts returns how many buckets a dense histogram of h's geometry
// allocates, following HdrHistogram's layout.
func denseCounts(h *hdrhistogram.PackedHistogram) int64 {
	sig := min(max(h.SignificantFigures(), 0), 5)
	lowest := max(h.LowestTrackableValue(), 1)
	subBucketCount := int64(1) << int(math.Ceil(math.Log2(2*math.Pow10(int(sig)))))
	unitMagnitude := int64(math.Floor(math.Log2(float64(lowest))))
	if unitMagnitude+int64(math.Log2(float64(subBucketCount))) >= 62 {
		return math.MaxInt64
	}
	buckets := int64(1)
	for smallest := subBucketCount << unitMagnitude; smallest <= h.HighestTrackableValue(); smallest <<= 1 {
		buckets++
		if smallest > math.MaxInt64/2 {
			break
		}
	}
	return (buckets + 1) * subBucketCount / 2
}

// leadingFloat parses the number at the start of s, as in
// " 1700000000.123 (seconds since epoch)".
func leadingFloat(s string) (float64, error) {
	s = strings.TrimSpace(s)
	end := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end < 0 {
		end = len(s)
	}
	v, err := strconv.ParseFloat(s[:end], 64)
	if err != nil || end == 0 {
		return 0, fmt.Errorf("%.30q is not seconds since the epoch", s)
	}
	return v, nil
}

// secondsToDuration converts seconds written with %f, rounding to the
// microsecond those six decimals carry.
func secondsToDuration(s float64) time.Duration {
	return time.Duration(math.Round(s*1e6)) * time.Microsecond
}

// MergeHlogs merges interval logs, for example the shards one run wrote on
// several machines. Intervals are aligned by tag and by their offset from
// their own log's start (to the millisecond), so the same second of each
// shard lands in one interval; the merged log starts at the earliest start.
// Merging is exact: per tag, the merged histograms hold the union of every
// value. If a merge would drop values (different histogram ranges), it fails
// with ErrMergeDropped rather than return a lossy result.
func MergeHlogs(logs ...*Hlog) (*Hlog, error) {
	type key struct {
		tag string
		ms  int64
	}
	out := &Hlog{}
	index := map[key]int{}
	for _, l := range logs {
		if !l.Start.IsZero() && (out.Start.IsZero() || l.Start.Before(out.Start)) {
			out.Start = l.Start
		}
	}
	for li, l := range logs {
		for _, iv := range l.Intervals {
			k := key{iv.Tag, iv.Start.Milliseconds()}
			if i, ok := index[k]; ok {
				dst := &out.Intervals[i]
				if dropped := dst.Hist.Merge(iv.Hist); dropped != 0 {
					return nil, fmt.Errorf("merge log %d, tag %q at %v: %w: %d values outside [%d, %d]: record every shard with the same histogram geometry",
						li+1, iv.Tag, iv.Start, ErrMergeDropped, dropped, dst.Hist.LowestTrackableValue(), dst.Hist.HighestTrackableValue())
				}
				dst.Length = max(dst.Length, iv.Length)
				continue
			}
			index[k] = len(out.Intervals)
			iv.Hist = iv.Hist.Clone()
			out.Intervals = append(out.Intervals, iv)
		}
	}
	out.sort()
	return out, nil
}

// Tags returns the log's tags, sorted.
func (l *Hlog) Tags() []string {
	var tags []string
	for _, iv := range l.Intervals {
		tags = append(tags, iv.Tag)
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

// Totals merges every interval of each tag into one dense histogram per tag,
// with the geometry of the tag's first interval. It fails with
// ErrMergeDropped if any value does not fit.
func (l *Hlog) Totals() (map[string]*hdrhistogram.Histogram, error) {
	totals := map[string]*hdrhistogram.Histogram{}
	for _, iv := range l.Intervals {
		t, ok := totals[iv.Tag]
		if !ok {
			t = denseLike(iv.Hist)
			totals[iv.Tag] = t
		}
		if dropped := iv.Hist.MergeInto(t); dropped != 0 {
			return nil, fmt.Errorf("total of tag %q: interval at %v: %w: %d values outside [%d, %d]: intervals were recorded with different geometries",
				iv.Tag, iv.Start, ErrMergeDropped, dropped, t.LowestTrackableValue(), t.HighestTrackableValue())
		}
	}
	return totals, nil
}

func denseLike(p *hdrhistogram.PackedHistogram) *hdrhistogram.Histogram {
	return hdrhistogram.New(p.LowestTrackableValue(), p.HighestTrackableValue(), int(p.SignificantFigures()))
}

// Run rebuilds a Run from the log, for reporting on a merged log: each tag
// without UncorrectedTagSuffix is an op, paired with its uncorrected tag. A
// log gives no error, late-start or clamp counts, so those stay zero;
// Meta.Elapsed is the end of the last interval and Meta.Interval the length
// of the first.
func (l *Hlog) Run() (*Run, error) {
	totals, err := l.Totals()
	if err != nil {
		return nil, err
	}
	run := &Run{Meta: Meta{Start: l.Start}}
	byOp := map[string]*OpResult{}
	var geometry *hdrhistogram.PackedHistogram
	names := []string{}
	for _, iv := range l.Intervals {
		geometry = iv.Hist
		name := strings.TrimSuffix(iv.Tag, UncorrectedTagSuffix)
		if err := ValidateOpName(name); err != nil {
			return nil, fmt.Errorf("tag %q: %w", iv.Tag, err)
		}
		if _, ok := byOp[name]; !ok {
			byOp[name] = &OpResult{Name: name}
			names = append(names, name)
		}
		run.Meta.Elapsed = max(run.Meta.Elapsed, iv.Start+iv.Length)
		if run.Meta.Interval == 0 {
			run.Meta.Interval = iv.Length
		}
	}
	for _, name := range names {
		op := byOp[name]
		op.Corrected, op.Uncorrected = totals[name], totals[name+UncorrectedTagSuffix]
		ivs := map[time.Duration]*Interval{}
		var order []time.Duration
		for _, hv := range l.Intervals {
			if strings.TrimSuffix(hv.Tag, UncorrectedTagSuffix) != name {
				continue
			}
			iv, ok := ivs[hv.Start]
			if !ok {
				iv = &Interval{Start: hv.Start, End: hv.Start + hv.Length}
				ivs[hv.Start] = iv
				order = append(order, hv.Start)
			}
			if hv.Tag == name {
				iv.Corrected = hv.Hist
			} else {
				iv.Uncorrected = hv.Hist
			}
		}
		slices.Sort(order)
		for _, start := range order {
			iv := ivs[start]
			iv.Corrected = orEmpty(iv.Corrected, geometry)
			iv.Uncorrected = orEmpty(iv.Uncorrected, geometry)
			op.Intervals = append(op.Intervals, *iv)
		}
		if op.Corrected == nil {
			op.Corrected = denseLike(geometry)
		}
		if op.Uncorrected == nil {
			op.Uncorrected = denseLike(geometry)
		}
		run.Ops = append(run.Ops, *op)
	}
	run.SortOps()
	return run, nil
}

func orEmpty(h, like *hdrhistogram.PackedHistogram) *hdrhistogram.PackedHistogram {
	if h != nil {
		return h
	}
	e := like.Clone()
	e.Reset()
	return e
}
