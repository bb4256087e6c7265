package reports_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boxstorm/boxstorm/reports"
)

func TestWriteJUnit(t *testing.T) {
	suites := []reports.TestSuite{
		{
			Name:       "chaos",
			Timestamp:  fixtureStart,
			Properties: []reports.Property{{Name: "seed", Value: "42"}},
			Cases: []reports.TestCase{
				{Name: "torn-tail", Classname: "chaos.store", Time: 1234 * time.Millisecond, SystemOut: "recovered 3 records"},
				{Name: "bit-flip", Classname: "chaos.store", Time: 250 * time.Millisecond,
					Failure: "acknowledged op 17 lost after recovery\nexpected <op 17> & found nothing"},
				{Name: "disk-full", Classname: "chaos.store", Skipped: "needs RLIMIT_FSIZE"},
			},
		},
		{Name: "baseline", Cases: []reports.TestCase{{Name: "enqueue p99", Classname: "loadgen", Time: 5 * time.Second}}},
	}
	var buf bytes.Buffer
	if err := reports.WriteJUnit(&buf, suites); err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.xml.golden", buf.Bytes())

	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Skipped int `xml:"skipped,attr"`
			Cases   []struct {
				Failure *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("output is not well-formed XML: %v", err)
	}
	if doc.Tests != 4 || doc.Failures != 1 || doc.Suites[0].Skipped != 1 {
		t.Errorf("totals tests=%d failures=%d, first suite skipped=%d, want 4, 1, 1", doc.Tests, doc.Failures, doc.Suites[0].Skipped)
	}
	f := doc.Suites[0].Cases[1].Failure
	if f == nil || f.Message != "acknowledged op 17 lost after recovery" || f.Body != suites[0].Cases[1].Failure {
		t.Errorf("failure = %+v", f)
	}
}

// TestWriteJUnitValidatesAgainstJenkinsSchema validates WriteJUnit's output
// with xmllint against the Jenkins xUnit plugin's junit-10.xsd (kept in
// testdata/junit with its licence), the strictest schema CI tools apply.
// xmllint comes from Debian's libxml2-utils, which .ci/run installs; the
// test skips without it, except in CI.
func TestWriteJUnitValidatesAgainstJenkinsSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		msg := "xmllint not found: apt-get install libxml2-utils to validate junit.xml against junit-10.xsd"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	schema := filepath.Join("testdata", "junit", "junit-10.xsd")
	validate := func(t *testing.T, doc []byte) (string, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "junit.xml")
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(xmllint, "--noout", "--schema", schema, path).CombinedOutput()
		return string(out), err
	}

	t.Run("every element WriteJUnit writes", func(t *testing.T) {
		suites := []reports.TestSuite{
			{
				Name: "chaos", Timestamp: fixtureStart,
				Properties: []reports.Property{{Name: "seed", Value: "42"}, {Name: "quick", Value: "true"}},
				Cases: []reports.TestCase{
					reports.ScenarioTestCase("chaos", "truncated-tail", 42, 1234*time.Millisecond),
					{Name: "bit-flips [seed 42]", Classname: "chaos.bit-flips", Time: time.Second,
						Failure: "violation: loss\nacknowledged op 17 lost & <gone>", SystemOut: "recovered 3 records\n"},
					{Name: "disk-full [seed 42]", Classname: "chaos.disk-full", Skipped: "unknown: loss"},
					{Name: "control \x01 and invalid \xff bytes", Classname: "chaos.odd", Failure: "\x00\x1b[31m"},
				},
			},
			{Name: "empty"},
		}
		var buf bytes.Buffer
		if err := reports.WriteJUnit(&buf, suites); err != nil {
			t.Fatal(err)
		}
		if out, err := validate(t, buf.Bytes()); err != nil {
			t.Fatalf("junit.xml does not validate against junit-10.xsd: %v\n%s\n%s", err, out, buf.Bytes())
		}
	})

	// The schema check must be able to fail: the attribute the plugin
	// rejected before this fix is still rejected.
	t.Run("the schema rejects skipped on testsuites", func(t *testing.T) {
		bad := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="1" failures="0" errors="0" skipped="1" time="0.000">
  <testsuite name="chaos" tests="1" failures="0" errors="0" skipped="1" time="0.000">
    <testcase name="a" classname="chaos.a" time="0.000"><skipped message="x"></skipped></testcase>
  </testsuite>
</testsuites>
`)
		out, err := validate(t, bad)
		if err == nil || !strings.Contains(out, "skipped") {
			t.Fatalf("xmllint accepted skipped on testsuites: err %v, output %s", err, out)
		}
	})
}

func TestScenarioTestCase(t *testing.T) {
	tc := reports.ScenarioTestCase("chaos-canary", "clock-skew-lock", 7, 2*time.Second)
	if got, want := tc.Classname, "chaos-canary.clock-skew-lock"; got != want {
		t.Errorf("classname %q, want %q", got, want)
	}
	if got, want := tc.Name, "clock-skew-lock [seed 7]"; got != want {
		t.Errorf("name %q, want %q", got, want)
	}
	if tc.Time != 2*time.Second || tc.Failure != "" || tc.Skipped != "" {
		t.Errorf("case %+v", tc)
	}
}
