package reports_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// with xmllint against testdata/junit/jenkins-junit.xsd, boxstorm's own
// schema encoding the rules of the Jenkins xUnit plugin's junit-10.xsd, the
// strictest schema CI tools apply. xmllint comes from Debian's
// libxml2-utils, which .ci/run installs; the test skips without it, except
// when CI is set (CI=true, as GitHub Actions sets it), where it fails.
func TestWriteJUnitValidatesAgainstJenkinsSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		msg := "xmllint not found: apt-get install libxml2-utils to validate junit.xml against the Jenkins rules"
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	schema := filepath.Join("testdata", "junit", "jenkins-junit.xsd")
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
			t.Fatalf("junit.xml breaks the Jenkins rules: %v\n%s\n%s", err, out, buf.Bytes())
		}
	})

	// The schema must be able to fail, and must not be stricter than
	// Jenkins: each case is a document the plugin's rules accept or reject,
	// with the word xmllint's complaint names. The first bad case is the
	// attribute the plugin rejected in boxstorm's output before.
	const head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	for _, tc := range []struct {
		name string
		doc  string
		bad  string // a word of xmllint's complaint; "" when the document is valid
	}{
		{"skipped on testsuites",
			`<testsuites tests="1" failures="0" errors="0" skipped="1" time="0.000"><testsuite name="chaos" tests="1" failures="0" errors="0" skipped="1" time="0.000"><testcase name="a" classname="chaos.a" time="0.000"><skipped message="x"></skipped></testcase></testsuite></testsuites>`,
			"skipped"},
		{"testsuite without errors",
			`<testsuites><testsuite name="s" tests="0" failures="0"></testsuite></testsuites>`, "errors"},
		{"testcase without name",
			`<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase classname="c"/></testsuite></testsuites>`, "name"},
		{"property without value",
			`<testsuites><testsuite name="s" tests="0" failures="0" errors="0"><properties><property name="seed"/></properties></testsuite></testsuites>`, "value"},
		{"testcase directly in testsuites",
			`<testsuites><testcase name="a"/></testsuites>`, "testcase"},
		{"unknown attribute on testcase",
			`<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase name="a" status="ok"/></testsuite></testsuites>`, "status"},
		{"rerunFailure without type",
			`<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase name="a"><rerunFailure message="m"/></testcase></testsuite></testsuites>`, "type"},
		{"suite time with a bad digit group",
			`<testsuites><testsuite name="s" tests="0" failures="0" errors="0" time="1,23"></testsuite></testsuites>`, "time"},
		{"time in seconds with grouped digits", `<testsuites time="1,234.5"></testsuites>`, ""},
		{"a bare testsuite, nested suites, outcomes in any order",
			`<testsuite name="s" tests="2" failures="1" errors="1" hostname="h"><system-out>o</system-out><testsuite name="inner" tests="0" failures="0" errors="0"/><testcase name="a" time="n/a"><system-err>e</system-err><failure type="t">x</failure><error/><flakyError type="t">text<stackTrace>st</stackTrace></flakyError></testcase><properties/></testsuite>`,
			""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := validate(t, []byte(head+tc.doc+"\n"))
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("xmllint rejected a document the Jenkins rules accept: %v\n%s", err, out)
			case tc.bad != "" && err == nil:
				t.Fatalf("xmllint accepted a document the Jenkins rules reject:\n%s", out)
			case tc.bad != "" && !strings.Contains(out, tc.bad):
				t.Fatalf("xmllint rejected it, but not for %q:\n%s", tc.bad, out)
			}
		})
	}
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
