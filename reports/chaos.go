package reports

// The chaos run's reports: summary.json (ChaosSummary), summary.md,
// junit.xml and report.html. The chaos runner fills a ChaosSummary with
// one ChaosScenario per scenario; these writers need nothing else.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The verdicts of a chaos run and of its scenarios, as the checkers name
// them (package harness/check's Verdict).
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"
	VerdictUnknown = "unknown"
)

// OpLatency summarises one op's latencies in a scenario.
type OpLatency struct {
	Op    string        `json:"op"`
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p99_9_ns"`
	Max   time.Duration `json:"max_ns"`
	// Step is the bucket width of Series.
	Step time.Duration `json:"series_step_ns,omitempty"`
	// Series is the op's latency over the run: the calls that returned in
	// each bucket of Step, by return time on the run's monotonic clock.
	// Buckets in which none returned are left out.
	Series []LatencyPoint `json:"series,omitempty"`
}

// ChaosSummary is a whole chaos run: summary.json. Replay reads it back.
type ChaosSummary struct {
	Tool   string `json:"tool"`
	Seed   uint64 `json:"seed"`
	Quick  bool   `json:"quick"`
	Canary bool   `json:"canary"`
	Shard  string `json:"shard,omitempty"`
	// Target names the target the run drove through the target protocol
	// ("name version", with its command line); empty for the reference
	// store in process.
	Target        string `json:"target,omitempty"`
	TargetCommand string `json:"target_command,omitempty"`
	// TargetRoundTrip is the protocol's own cost, measured before the run:
	// what every call in the scenarios' latencies carries.
	TargetRoundTrip *RoundTrip    `json:"target_round_trip,omitempty"`
	Started         time.Time     `json:"started"`
	Elapsed         time.Duration `json:"elapsed_ns"`
	Verdict         string        `json:"verdict"` // "pass", "fail" or "unknown"
	// CrashStates and Kills are the totals of the scenarios' (Finish sums
	// them).
	CrashStates int             `json:"crash_states"`
	Kills       int             `json:"kills"`
	Scenarios   []ChaosScenario `json:"scenarios"`
}

// ChaosScenario is one scenario in a ChaosSummary.
type ChaosScenario struct {
	Name    string        `json:"name"`
	File    string        `json:"file,omitempty"`   // the file it was loaded from, when not built in
	Verdict string        `json:"verdict"`          // VerdictPass, VerdictFail or VerdictUnknown
	Caught  *bool         `json:"caught,omitempty"` // canary runs: the violation was seen
	Elapsed time.Duration `json:"elapsed_ns"`
	Failed  []string      `json:"failed,omitempty"`
	Unknown []string      `json:"unknown,omitempty"`
	// Checks lists every check the scenario ran and every latency
	// threshold, each with its verdict, the passed ones included.
	Checks  []CheckVerdict `json:"checks,omitempty"`
	Error   string         `json:"error,omitempty"`
	Latency []OpLatency    `json:"latency,omitempty"`
	// CrashStates is how many crash states the scenario's explore steps
	// opened and checked; Kills how many SIGKILLs and power losses it
	// dealt (result.json's crash_states and kills).
	CrashStates int `json:"crash_states"`
	Kills       int `json:"kills"`
	// FaultWindows are when the scenario's faults ran (FaultWindows of its
	// result's fault events), for the report's latency chart.
	FaultWindows []FaultWindow `json:"fault_windows,omitempty"`
}

// CheckVerdict is one check of a scenario, or one latency threshold, and
// what it found.
type CheckVerdict struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"` // VerdictPass, VerdictFail or VerdictUnknown
	Message string `json:"message,omitempty"`
}

// Held reports whether the entry counts as a success for its run: in a
// normal run every check passed; in a canary run the violation was caught.
func (e ChaosScenario) Held() bool {
	if e.Caught != nil {
		return *e.Caught
	}
	return e.Verdict == VerdictPass
}

// Finish sets the run's verdict from its scenarios: fail if any scenario
// failed (in a canary run: if any canary was not caught), else unknown if
// any was unknown, else pass. It also sums their crash states and kills.
func (s *ChaosSummary) Finish() {
	s.Verdict = VerdictPass
	s.CrashStates, s.Kills = 0, 0
	for _, e := range s.Scenarios {
		s.CrashStates += e.CrashStates
		s.Kills += e.Kills
		switch {
		case s.Canary && !e.Held():
			s.Verdict = VerdictFail
		case !s.Canary && e.Verdict == VerdictFail:
			s.Verdict = VerdictFail
		case !s.Canary && e.Verdict == VerdictUnknown && s.Verdict == VerdictPass:
			s.Verdict = VerdictUnknown
		}
	}
}

// ReadChaosSummary reads a run's summary.json.
func ReadChaosSummary(path string) (*ChaosSummary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read run summary: %w", err)
	}
	var s ChaosSummary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read run summary %s: %w", path, err)
	}
	return &s, nil
}

// WriteChaosReports writes summary.json, summary.md, junit.xml and
// report.html into dir, and the JUnit report to junitPath too when set.
func WriteChaosReports(dir, junitPath string, s *ChaosSummary) error {
	if err := WriteJSONFile(filepath.Join(dir, "summary.json"), s); err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, "summary.md"), func(w io.Writer) error { return WriteChaosMarkdown(w, s) }); err != nil {
		return err
	}
	for _, p := range []string{filepath.Join(dir, "junit.xml"), junitPath} {
		if p == "" {
			continue
		}
		if err := WriteFile(p, func(w io.Writer) error { return WriteJUnit(w, s.JUnit()) }); err != nil {
			return err
		}
	}
	return WriteFile(filepath.Join(dir, "report.html"), func(w io.Writer) error { return WriteChaosHTML(w, s) })
}

// JUnit renders the run as one suite with one test case per scenario.
// Unknown scenarios are skipped, never passed.
func (s *ChaosSummary) JUnit() []TestSuite {
	name := "chaos"
	if s.Canary {
		name = "chaos-canary"
	}
	suite := TestSuite{Name: name, Timestamp: s.Started, Properties: []Property{
		{Name: "seed", Value: fmt.Sprint(s.Seed)}, {Name: "quick", Value: fmt.Sprint(s.Quick)}, {Name: "canary", Value: fmt.Sprint(s.Canary)},
	}}
	if s.Target != "" {
		suite.Properties = append(suite.Properties, Property{Name: "target", Value: s.Target})
	}
	for _, e := range s.Scenarios {
		tc := ScenarioTestCase(name, e.Name, s.Seed, e.Elapsed)
		detail := strings.Join(append(append([]string{}, e.Failed...), e.Unknown...), "\n")
		switch {
		case s.Canary && !e.Held():
			tc.Failure = fmt.Sprintf("canary not caught: verdict %s against the known-bad target\n%s", e.Verdict, detail)
		case s.Canary:
		case e.Verdict == VerdictFail:
			tc.Failure = "violation: " + strings.Join(e.Failed, ", ") + "\n" + detail
		case e.Verdict == VerdictUnknown:
			tc.Skipped = "unknown: " + strings.Join(e.Unknown, ", ") + errSuffix(e.Error)
		}
		suite.Cases = append(suite.Cases, tc)
	}
	return []TestSuite{suite}
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return "; error: " + s
}

// Against says what the run drove: the reference store, its known-bad
// targets, or a target through the protocol.
func (s *ChaosSummary) Against() string {
	switch {
	case s.Canary:
		return "against the known-bad targets (canary)"
	case s.Target != "" && s.TargetRoundTrip != nil:
		return fmt.Sprintf("against the target %s (%s) through the target protocol; %s", s.Target, s.TargetCommand, s.TargetRoundTrip.line())
	case s.Target != "":
		return fmt.Sprintf("against the target %s (%s) through the target protocol", s.Target, s.TargetCommand)
	}
	return "against the reference store"
}

// WriteChaosMarkdown writes the run summary as Markdown, for CI step
// summaries.
func WriteChaosMarkdown(w io.Writer, s *ChaosSummary) error {
	mode := s.Against()
	fmt.Fprintf(w, "# %s: %s\n\n%s, took %s\n\n", s.Title(), strings.ToUpper(s.Verdict), mode, HumanDuration(s.Elapsed))
	fmt.Fprintf(w, "Crash states explored: **%d**; kills and power losses: **%d**.\n\n", s.CrashStates, s.Kills)
	fmt.Fprintf(w, "| scenario | verdict | passed | failed | unknown | crash states | kills | time |\n|---|---|---|---|---|---|---|---|\n")
	for _, e := range s.Scenarios {
		v := string(e.Verdict)
		if e.Caught != nil {
			v = map[bool]string{true: "caught", false: "NOT CAUGHT"}[*e.Caught] + " (" + v + ")"
		}
		var passed []string
		for _, c := range e.Checks {
			if c.Verdict == VerdictPass {
				passed = append(passed, c.Name)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d | %d | %s |\n", e.Name, v, strings.Join(passed, ", "), strings.Join(e.Failed, ", "), strings.Join(e.Unknown, ", "), e.CrashStates, e.Kills, HumanDuration(e.Elapsed))
	}
	fmt.Fprintf(w, "| **total** | | | | | %d | %d | |\n", s.CrashStates, s.Kills)
	fmt.Fprintf(w, "\nReplay: `chaos replay <this directory>` (seed %d)\n", s.Seed)
	return nil
}
