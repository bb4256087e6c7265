// Command peers measures boxstorm beside the durable embedded stores a Go
// user could pick instead: raw buntdb, bbolt, SQLite (modernc.org/sqlite),
// pebble, dque, and two bare-file floors.
//
// It runs the measures in interleaved rounds: each round runs every peer
// once, in an order rotated per round, and the ratios to boxstorm are taken
// within each round, so a machine whose load moves shifts both sides of a
// ratio. It prints the medians and the median ratios.
//
//	cd bench/peers && go run . [-rounds 5] [-dur 1s] [-records 100000]
//
// Measures:
//   - 1 producer, durable: mean latency of one put that returns durable.
//   - 16 producers, durable: puts per second, and records per fsync.
//   - cycle: enqueue + claim + ack without fsync (Set + Get + Delete where
//     the peer is a key-value store; Enqueue + Dequeue for dque).
//   - memory and open: a child process opens a store of -records records
//     (filled once) and reports the open time, its resident set (VmRSS
//     after a GC and debug.FreeOSMemory) and Go heap per record, minus what
//     the process held before the open.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	oneUs      float64 // 1 producer, µs per durable put
	manyOps    float64 // N producers, durable puts per second
	perFsync   float64 // records per fsync under N producers
	cycleUs    float64 // µs per cycle without fsync
	rssPerRec  float64 // bytes of RSS per record after open
	heapPerRec float64 // bytes of Go heap per record after open
	openMs     float64 // ms to open -records records
}

type openReport struct {
	OpenMs     float64 `json:"open_ms"`
	RSSPerRec  float64 `json:"rss_per_record"`
	HeapPerRec float64 `json:"heap_per_record"`
}

func main() {
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	dur := flag.Duration("dur", time.Second, "time per peer per measure per round")
	producers := flag.Int("producers", 16, "goroutines of the parallel durable measure")
	records := flag.Int("records", 100000, "records in the store the memory and open measure opens")
	only := flag.String("peers", "", "comma-separated peers to run (boxstorm always runs); all when empty")
	work := flag.String("work", "", "work directory (a temporary one when empty; removed at the end)")
	childOpen := flag.String("child-open", "", "internal: open this peer's store in -work and report")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *childOpen != "" {
		if err := runChildOpen(*childOpen, *work, *records); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	sel := selectPeers(*only)
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "boxstorm-peers-")
		if err != nil {
			log.Error("work dir", "err", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := run(log, sel, dir, *rounds, *dur, *producers, *records); err != nil {
		log.Error("peers", "err", err)
		os.Exit(1)
	}
}

func selectPeers(only string) []peer {
	if only == "" {
		return peers
	}
	want := map[string]bool{"boxstorm": true}
	for n := range strings.SplitSeq(only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []peer
	for _, p := range peers {
		if want[p.name] {
			out = append(out, p)
		}
	}
	return out
}

func run(log *slog.Logger, sel []peer, dir string, rounds int, dur time.Duration, producers, records int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The stores the open measure opens are filled once.
	for _, p := range sel {
		if p.fill == nil {
			continue
		}
		t0 := time.Now()
		if err := p.fill(filepath.Join(dir, "fill", p.name), records); err != nil {
			return fmt.Errorf("fill %s: %w", p.name, err)
		}
		log.Info("filled", "peer", p.name, "records", records, "took", time.Since(t0).Round(time.Millisecond))
	}
	res := make([][]result, rounds) // [round][peer]
	for r := range rounds {
		res[r] = make([]result, len(sel))
		order := make([]int, len(sel))
		for i := range order {
			order[i] = (i + r) % len(sel)
		}
		for _, i := range order {
			p := sel[i]
			d := filepath.Join(dir, fmt.Sprintf("r%d", r), p.name)
			if res[r][i].oneUs, _, err = measureDurable(p, d+"-one", 1, dur); err != nil {
				return fmt.Errorf("round %d, %s, 1 producer: %w", r, p.name, err)
			}
		}
		for _, i := range order {
			p := sel[i]
			d := filepath.Join(dir, fmt.Sprintf("r%d", r), p.name)
			var us float64
			if us, res[r][i].perFsync, err = measureDurable(p, d+"-many", producers, dur); err != nil {
				return fmt.Errorf("round %d, %s, %d producers: %w", r, p.name, producers, err)
			}
			res[r][i].manyOps = 1e6 / us
		}
		for _, i := range order {
			p := sel[i]
			if p.cycle == nil {
				continue
			}
			d := filepath.Join(dir, fmt.Sprintf("r%d", r), p.name)
			if res[r][i].cycleUs, err = measureCycle(p, d+"-cycle", dur); err != nil {
				return fmt.Errorf("round %d, %s, cycle: %w", r, p.name, err)
			}
		}
		for _, i := range order {
			p := sel[i]
			if p.load == nil {
				continue
			}
			rep, err := childOpen(self, p.name, filepath.Join(dir, "fill"), records)
			if err != nil {
				return fmt.Errorf("round %d, %s, open: %w", r, p.name, err)
			}
			res[r][i].openMs, res[r][i].rssPerRec, res[r][i].heapPerRec = rep.OpenMs, rep.RSSPerRec, rep.HeapPerRec
		}
		for i, p := range sel {
			x := res[r][i]
			log.Info("round", "n", r+1, "peer", p.name, "1p_us", f1(x.oneUs), "np_ops", f0(x.manyOps), "rec_per_fsync", f1(x.perFsync),
				"cycle_us", f1(x.cycleUs), "rss_B_rec", f0(x.rssPerRec), "heap_B_rec", f0(x.heapPerRec), "open_ms", f0(x.openMs))
		}
		os.RemoveAll(filepath.Join(dir, fmt.Sprintf("r%d", r)))
	}
	report(sel, res, rounds, dur, producers, records)
	return nil
}

// measureDurable runs n producers putting durably for about dur and returns
// µs per put (wall time ÷ puts, so for n > 1 the inverse of throughput) and
// records per fsync.
func measureDurable(p peer, dir string, n int, dur time.Duration) (us, perFsync float64, err error) {
	db, err := p.durable(dir, n)
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	defer db.close()
	var next atomic.Int64
	for range 20 { // warm up
		if err := db.put(next.Add(1)); err != nil {
			return 0, 0, err
		}
	}
	f0 := db.fsyncs()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	deadline := start.Add(dur)
	var done atomic.Int64
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := db.put(next.Add(1)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if e, ok := firstErr.Load().(error); ok {
		return 0, 0, e
	}
	fs := db.fsyncs() - f0
	if fs > 0 {
		perFsync = float64(done.Load()) / float64(fs)
	}
	return float64(el.Microseconds()) / float64(done.Load()), perFsync, nil
}

func measureCycle(p peer, dir string, dur time.Duration) (float64, error) {
	db, err := p.cycle(dir)
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	defer db.close()
	var i int64
	for range 100 {
		i++
		if err := db.cycle(i); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	n := 0
	for time.Since(start) < dur {
		i++
		if err := db.cycle(i); err != nil {
			return 0, err
		}
		n++
	}
	return float64(time.Since(start).Nanoseconds()) / 1e3 / float64(n), nil
}

func childOpen(self, name, dir string, records int) (openReport, error) {
	var rep openReport
	cmd := exec.Command(self, "-child-open", name, "-work", dir, "-records", strconv.Itoa(records))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return rep, fmt.Errorf("child: %w", err)
	}
	return rep, json.Unmarshal(out, &rep)
}

// runChildOpen opens peer name's filled store and prints an openReport.
func runChildOpen(name, dir string, records int) error {
	var p *peer
	for i := range peers {
		if peers[i].name == name {
			p = &peers[i]
		}
	}
	if p == nil || p.load == nil {
		return fmt.Errorf("no open measure for peer %q", name)
	}
	rss0, heap0 := settle()
	t0 := time.Now()
	db, err := p.load(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	el := time.Since(t0)
	rss1, heap1 := settle()
	runtime.KeepAlive(db)
	rep := openReport{
		OpenMs:     float64(el.Microseconds()) / 1e3,
		RSSPerRec:  float64(rss1-rss0) / float64(records),
		HeapPerRec: float64(int64(heap1)-int64(heap0)) / float64(records),
	}
	if err := db.close(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// settle collects garbage, returns freed memory to the OS, and reads the
// resident set and the live heap.
func settle() (rss int64, heap uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				rss = kb << 10
			}
		}
	}
	return rss, ms.HeapAlloc
}

func median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if x > 0 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// col returns, for peer i, the median of a measure and the median over
// rounds of boxstorm's value divided by the peer's.
func col(res [][]result, i int, get func(result) float64) (med, ratio float64) {
	vals, ratios := series(res, i, get)
	return median(vals), median(ratios)
}

// series returns a measure of peer i per round, and boxstorm ÷ peer per round.
func series(res [][]result, i int, get func(result) float64) (vals, ratios []float64) {
	for _, row := range res {
		vals = append(vals, get(row[i]))
		if b, v := get(row[0]), get(row[i]); b > 0 && v > 0 {
			ratios = append(ratios, b/v)
		}
	}
	return vals, ratios
}

// spread formats the smallest and largest of xs.
func spread(xs []float64) string {
	if len(xs) == 0 {
		return "—"
	}
	return f2(slices.Min(xs)) + "–" + f2(slices.Max(xs))
}

func f0(x float64) string { return strconv.FormatFloat(x, 'f', 0, 64) }
func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
func f2(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }

func cell(med, ratio float64, digits func(float64) string, self bool) string {
	if med == 0 {
		return "—"
	}
	if self {
		return digits(med)
	}
	return digits(med) + " (" + f2(ratio) + ")"
}

func report(sel []peer, res [][]result, rounds int, dur time.Duration, producers, records int) {
	fmt.Printf("Medians of %d interleaved rounds, %s per measure, 16-byte keys, 256-byte values, %d records for memory and open, GOMAXPROCS %d.\n",
		rounds, dur, records, runtime.GOMAXPROCS(0))
	fmt.Printf("In parentheses: the median over rounds of boxstorm ÷ peer. For times (µs, ms, bytes) below 1 means boxstorm is better; for ops/s above 1 does.\n\n")
	fmt.Printf("| Store | 1 producer, durable, µs | %d producers, durable, ops/s | records per fsync | cycle, no fsync, µs | RSS B/record | heap B/record | open, ms |\n", producers)
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for i, p := range sel {
		self := i == 0
		one, oneR := col(res, i, func(r result) float64 { return r.oneUs })
		many, manyR := col(res, i, func(r result) float64 { return r.manyOps })
		pf, _ := col(res, i, func(r result) float64 { return r.perFsync })
		cyc, cycR := col(res, i, func(r result) float64 { return r.cycleUs })
		rss, rssR := col(res, i, func(r result) float64 { return r.rssPerRec })
		heap, heapR := col(res, i, func(r result) float64 { return r.heapPerRec })
		op, opR := col(res, i, func(r result) float64 { return r.openMs })
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", p.name,
			cell(one, oneR, f0, self), cell(many, manyR, f0, self), cell(pf, 0, f1, true),
			cell(cyc, cycR, f1, self), cell(rss, rssR, f0, self), cell(heap, heapR, f0, self), cell(op, opR, f0, self))
	}
	fmt.Println("\nDurability and fsync counting:")
	for _, p := range sel {
		fmt.Printf("- %s: %s. Fsyncs: %s.\n", p.name, p.durability, p.fsyncNote)
	}
	idx := map[string]int{}
	for i, p := range sel {
		idx[p.name] = i
	}
	fmt.Println("\nTargets (issue 16):")
	target := func(what, peerName string, get func(result) float64, ok func(float64) bool, limit string) {
		i, found := idx[peerName]
		if !found {
			return
		}
		_, rs := series(res, i, get)
		r := median(rs)
		verdict := "missed"
		if ok(r) {
			verdict = "met"
		}
		fmt.Printf("- %s: %s, rounds %s (target %s): %s\n", what, f2(r), spread(rs), limit, verdict)
	}
	target(fmt.Sprintf("%d producers, boxstorm ÷ pebble throughput", producers), "pebble", func(r result) float64 { return r.manyOps }, func(x float64) bool { return x >= 1.0 }, "≥ 1.0")
	pf, _ := col(res, 0, func(r result) float64 { return r.perFsync })
	v := "missed"
	if pf >= 6 {
		v = "met"
	}
	fmt.Printf("- %d producers, boxstorm records per fsync: %s (target ≥ 6): %s\n", producers, f1(pf), v)
	target("1 producer, boxstorm ÷ prealloc+fdatasync time", "prealloc+fdatasync", func(r result) float64 { return r.oneUs }, func(x float64) bool { return x <= 1.2 }, "≤ 1.2")
	target("cycle, boxstorm ÷ buntdb time", "buntdb", func(r result) float64 { return r.cycleUs }, func(x float64) bool { return x <= 1.3 }, "≤ 1.3")
	target("cycle, boxstorm ÷ dque time", "dque", func(r result) float64 { return r.cycleUs }, func(x float64) bool { return x < 1.0 }, "< 1.0")
	target("RSS per record, boxstorm ÷ buntdb", "buntdb", func(r result) float64 { return r.rssPerRec }, func(x float64) bool { return x <= 1.3 }, "≤ 1.3")
	target(fmt.Sprintf("open of %d records, boxstorm ÷ buntdb", records), "buntdb", func(r result) float64 { return r.openMs }, func(x float64) bool { return x <= 1.5 }, "≤ 1.5, at 1M records")
}
