package scenarios

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The raw schema: what a scenario file may contain, field by field, as
// goccy/go-yaml decodes it. Pointers tell an absent field from a zero one;
// durations and enums stay strings until validation, so that their errors
// carry the field's line. docs/scenarios.md documents the same fields.
type (
	rawScenario struct {
		Version     *int                         `yaml:"version"`
		Name        *string                      `yaml:"name"`
		Description *string                      `yaml:"description"`
		Protection  *string                      `yaml:"protection"`
		Store       *rawStore                    `yaml:"store"`
		Workload    *rawWorkload                 `yaml:"workload"`
		Faults      []rawFault                   `yaml:"faults"`
		Checks      []string                     `yaml:"checks"`
		Thresholds  map[string]map[string]string `yaml:"thresholds"`
	}
	rawStore struct {
		Sync             *string `yaml:"sync"`
		SyncInterval     *string `yaml:"sync_interval"`
		Recovery         *string `yaml:"recovery"`
		StaleAfter       *string `yaml:"stale_after"`
		FailedOpsAlert   *int64  `yaml:"failed_ops_alert"`
		CheckpointPeriod *string `yaml:"checkpoint_period"`
	}
	rawWorkload struct {
		Kind        *string  `yaml:"kind"`
		Producers   *int64   `yaml:"producers"`
		Processors  *int64   `yaml:"processors"`
		Processes   *int64   `yaml:"processes"`
		Ops         *int64   `yaml:"ops"`
		QuickOps    *int64   `yaml:"quick_ops"`
		ValueSize   *int64   `yaml:"value_size"`
		Idempotency *float64 `yaml:"idempotency"`
		Rate        *float64 `yaml:"rate"`
		Subjects    *int64   `yaml:"subjects"`
	}
	rawFault struct {
		Type      *string  `yaml:"type"`
		At        *rawAt   `yaml:"at"`
		Box       *string  `yaml:"box"`
		To        *string  `yaml:"to"`
		Mode      *string  `yaml:"mode"`
		Count     *int64   `yaml:"count"`
		Every     *int64   `yaml:"every"`
		Bytes     *int64   `yaml:"bytes"`
		Length    *int64   `yaml:"length"`
		Processor *int64   `yaml:"processor"`
		Offset    *string  `yaml:"offset"`
		Duration  *string  `yaml:"duration"`
		Rate      *float64 `yaml:"rate"`
		Failpoint *string  `yaml:"failpoint"`
		During    *string  `yaml:"during"`
		Delta     *int64   `yaml:"delta"`
		Limit     *int64   `yaml:"limit"`
		From      *string  `yaml:"from"`
		Batch     *int64   `yaml:"batch"`
		Subject   *string  `yaml:"subject"`
		Recovery  *string  `yaml:"recovery"`
		Nth       *int64   `yaml:"nth"`
		Sticky    *bool    `yaml:"sticky"`
		Budget    *int64   `yaml:"budget"`
		Median    *string  `yaml:"median"`
		P99       *string  `yaml:"p99"`
		Procedure *string  `yaml:"procedure"`
		States    *int64   `yaml:"states"`
	}
	rawAt struct {
		Op        *int64  `yaml:"op"`
		OpBetween []int64 `yaml:"op_between"`
		Step      *int64  `yaml:"step"`
	}
)

// Load parses and validates one scenario file. name is the file's name or
// path: errors are reported against it, and the scenario's name field must
// equal its base name without the .yaml or .yml extension. Every error
// Load returns is an *Error; no input makes it panic.
func Load(name string, data []byte) (*Scenario, error) {
	// goccy/go-yaml counts a comment line twice when lines end in CRLF,
	// which would put every error on the wrong line.
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	sc, err := load(name, data)
	if err != nil {
		return nil, err
	}
	return sc, nil
}

// LoadFile reads and loads the scenario file at path.
func LoadFile(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read the file", Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read the file", Err: err}
	}
	return Load(path, data)
}

func load(file string, data []byte) (*Scenario, *Error) {
	if len(data) > MaxSize {
		return nil, &Error{File: file,
			Msg:  fmt.Sprintf("the file is larger than %d bytes", MaxSize),
			Hint: "a scenario is a short description; split it into several files",
			Err:  ErrTooLarge}
	}
	if err := checkText(file, data); err != nil {
		return nil, err
	}
	if err := precheck(file, data); err != nil {
		return nil, err
	}
	body, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	src, err := newSource(file, body)
	if err != nil {
		return nil, err
	}
	if err := src.checkVersion(); err != nil {
		return nil, err
	}
	if err := src.checkShape(body, reflect.TypeFor[rawScenario](), ""); err != nil {
		return nil, err
	}
	var raw rawScenario
	if err := decode(body, &raw); err != nil {
		return nil, src.fromYAML(err)
	}
	return src.build(&raw)
}

// parse returns the body of the file's only YAML document.
func parse(file string, data []byte) (body ast.Node, e *Error) {
	defer func() {
		if r := recover(); r != nil {
			body, e = nil, &Error{File: file,
				Msg:  "the YAML parser failed on this file",
				Hint: "check the file's YAML syntax",
				Err:  fmt.Errorf("goccy/go-yaml parser panicked: %v", r)}
		}
	}()
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, (&source{file: file}).fromYAML(err)
	}
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			return nil, &Error{File: file, Line: lineOf(doc.Body),
				Msg:  "a second YAML document",
				Hint: "write one scenario per file, without ---"}
		}
		body = doc.Body
	}
	if body == nil {
		return nil, &Error{File: file, Msg: "the file is empty",
			Hint: fmt.Sprintf("start it with version: %d", CurrentVersion)}
	}
	if _, ok := mappingEntries(body); !ok {
		return nil, &Error{File: file, Line: lineOf(body),
			Msg:  fmt.Sprintf("want a mapping of fields at the top level, got %s", describe(body)),
			Hint: fmt.Sprintf("start the file with version: %d", CurrentVersion)}
	}
	return body, nil
}

// decode fills raw from the AST with goccy/go-yaml in strict mode, which
// rejects unknown fields and values of the wrong type.
func decode(body ast.Node, raw *rawScenario) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("goccy/go-yaml decoder panicked: %v", r)
		}
	}()
	return yaml.NodeToValue(body, raw, yaml.DisallowUnknownField())
}

// checkVersion runs before anything else looks at the fields, because
// another version may have other fields.
func (s *source) checkVersion() *Error {
	entries, _ := mappingEntries(s.body)
	for _, mv := range entries {
		if key, _ := keyString(mv.Key); key != "version" {
			continue
		}
		hint := fmt.Sprintf("write version: %d", CurrentVersion)
		n, ok := mv.Value.(*ast.IntegerNode)
		if !ok {
			got := "null"
			if mv.Value != nil {
				got = describe(mv.Value)
			}
			return s.fail("version", "want a whole number, got "+got, hint, nil)
		}
		if v, ok := n.Value.(uint64); ok && v == CurrentVersion {
			return nil
		}
		if v, ok := n.Value.(int64); ok && v == CurrentVersion {
			return nil
		}
		return s.fail("version",
			fmt.Sprintf("version %s is not supported; this boxstorm reads version %d", n.Token.Value, CurrentVersion),
			"use a boxstorm release that reads this version, or rewrite the file for version 1",
			ErrUnsupportedVersion)
	}
	return s.fail("version", "missing", fmt.Sprintf("start the file with version: %d", CurrentVersion), nil)
}

// checkText refuses a file that is not UTF-8 text before the YAML parser
// sees it: its errors would quote the bytes back, escaped, at length.
func checkText(file string, data []byte) *Error {
	bad, what := -1, ""
	if i := bytes.IndexByte(data, 0); i >= 0 {
		bad, what = i, "a NUL byte"
	}
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		if bad < 0 || i < bad {
			bad, what = i, "a byte that is not UTF-8"
		}
	}
	if bad < 0 {
		return nil
	}
	return &Error{File: file, Line: 1 + bytes.Count(data[:bad], []byte{'\n'}),
		Msg:  fmt.Sprintf("not a text file: %s at offset %d", what, bad),
		Hint: "a scenario is a YAML text file in UTF-8; check that this is the file you meant",
		Err:  ErrNotText}
}
