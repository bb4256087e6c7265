package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// TestSuite is a named group of test cases, one <testsuite> element.
type TestSuite struct {
	Name       string
	Timestamp  time.Time  // when the suite started; omitted when zero
	Properties []Property // such as the seed that replays the run
	Cases      []TestCase
}

// Property is a name/value pair recorded with a suite.
type Property struct {
	Name, Value string
}

// TestCase is one test: a chaos scenario, a check, a baseline comparison. It
// passed unless Failure or Skipped is set.
type TestCase struct {
	Name      string
	Classname string        // group, shown by CI tools as the "class"
	Time      time.Duration // how long it ran
	Failure   string        // why it failed; the first line becomes the message attribute
	Skipped   string        // why it was skipped
	SystemOut string        // captured output, such as the run's text report
}

// ScenarioTestCase returns the test case of one chaos scenario in suite
// (such as "chaos"): class "<suite>.<scenario>", so that CI pages list
// every scenario as its own class instead of lumping them together, and
// name "<scenario> [seed N]", so that a failure names the seed that
// replays it.
func ScenarioTestCase(suite, scenario string, seed uint64, elapsed time.Duration) TestCase {
	return TestCase{
		Name:      fmt.Sprintf("%s [seed %d]", scenario, seed),
		Classname: suite + "." + scenario,
		Time:      elapsed,
	}
}

// The JUnit XML schema as CI tools read it. It keeps the rules of the
// Jenkins xUnit plugin's junit-10.xsd, the strictest of them (encoded in
// testdata/junit/jenkins-junit.xsd for the tests): <testsuites> carries no
// skipped attribute, only <testsuite> does.
type (
	xmlSuites struct {
		XMLName  xml.Name   `xml:"testsuites"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Time     string     `xml:"time,attr"`
		Suites   []xmlSuite `xml:"testsuite"`
	}
	xmlSuite struct {
		Name       string        `xml:"name,attr"`
		Tests      int           `xml:"tests,attr"`
		Failures   int           `xml:"failures,attr"`
		Errors     int           `xml:"errors,attr"`
		Skipped    int           `xml:"skipped,attr"`
		Time       string        `xml:"time,attr"`
		Timestamp  string        `xml:"timestamp,attr,omitempty"`
		Properties *xmlProps     `xml:"properties"`
		Cases      []xmlTestCase `xml:"testcase"`
	}
	xmlProps struct {
		Props []xmlProp `xml:"property"`
	}
	xmlProp struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	xmlTestCase struct {
		Name      string      `xml:"name,attr"`
		Classname string      `xml:"classname,attr"`
		Time      string      `xml:"time,attr"`
		Failure   *xmlMessage `xml:"failure"`
		Skipped   *xmlMessage `xml:"skipped"`
		SystemOut *xmlText    `xml:"system-out"`
	}
	xmlMessage struct {
		Message string `xml:"message,attr"`
		Body    string `xml:",chardata"`
	}
	xmlText struct {
		Body string `xml:",chardata"`
	}
)

// WriteJUnit writes suites as a JUnit XML report (<testsuites>). A case
// with both Failure and Skipped counts as failed.
func WriteJUnit(w io.Writer, suites []TestSuite) error {
	doc := xmlSuites{}
	var total time.Duration
	for _, s := range suites {
		xs := xmlSuite{Name: s.Name}
		if !s.Timestamp.IsZero() {
			xs.Timestamp = s.Timestamp.UTC().Format("2006-01-02T15:04:05")
		}
		if len(s.Properties) > 0 {
			xs.Properties = &xmlProps{}
			for _, p := range s.Properties {
				xs.Properties.Props = append(xs.Properties.Props, xmlProp(p))
			}
		}
		var suiteTime time.Duration
		for _, c := range s.Cases {
			xc := xmlTestCase{Name: c.Name, Classname: c.Classname, Time: seconds(c.Time)}
			switch {
			case c.Failure != "":
				xc.Failure = &xmlMessage{Message: firstLine(c.Failure), Body: c.Failure}
				xs.Failures++
			case c.Skipped != "":
				xc.Skipped = &xmlMessage{Message: firstLine(c.Skipped)}
				xs.Skipped++
			}
			if c.SystemOut != "" {
				xc.SystemOut = &xmlText{Body: c.SystemOut}
			}
			xs.Cases = append(xs.Cases, xc)
			suiteTime += c.Time
		}
		xs.Tests = len(s.Cases)
		xs.Time = seconds(suiteTime)
		doc.Tests += xs.Tests
		doc.Failures += xs.Failures
		total += suiteTime
		doc.Suites = append(doc.Suites, xs)
	}
	doc.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	return nil
}

// seconds formats a duration the way JUnit's time attribute wants it.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	const max = 200
	if len(line) <= max {
		return line
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return line[:cut] + "…"
}
