// This file holds the parsed form of a scenario file: its YAML AST, an
// index from field paths to lines, and the structural check of the AST
// against the schema. Every error the package returns gets its line and
// field path from here.

package scenarios

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Bounds checked on the raw bytes before the YAML parser sees them:
// goccy/go-yaml's parser slows down more than linearly on deep nesting and
// on floods of anchors, and no scenario needs either.
const (
	// maxDepth bounds the nesting of [ and {, and of "- " items opened
	// on one line.
	maxDepth = 32
	// maxAnchors bounds the words that start with & or *.
	maxAnchors = 256
)

// digitsRE matches an integer; one too large for 64 bits is not an
// IntegerNode in goccy/go-yaml's AST.
var digitsRE = regexp.MustCompile(`^[-+]?[0-9]+$`)

// source is one scenario file's AST with its field index.
type source struct {
	file string
	body ast.Node
	// rootLine is the line of the document's first field; errors about a
	// missing top-level field point at it.
	rootLine int
	// lines maps a field path to the line of its key, or of its item for
	// a sequence element.
	lines map[string]int
	// keys and values map the position of a key's or a value's token to
	// the field's path, to place goccy/go-yaml's errors.
	keys, values map[pos]string
}

// pos is a token's place in the file.
type pos struct{ line, col int }

func posOf(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	return posOf(n.GetToken()).line
}

// fail returns an *Error for the field at path, with the line of the field
// or, if the field is absent, of its nearest present ancestor.
func (s *source) fail(path, msg, hint string, err error) *Error {
	return &Error{File: s.file, Line: s.line(path), Field: path, Msg: msg, Hint: hint, Err: err}
}

// failf is fail with a formatted message and no hint or cause.
func (s *source) failf(path, format string, args ...any) *Error {
	return s.fail(path, fmt.Sprintf(format, args...), "", nil)
}

func (s *source) line(path string) int {
	for path != "" {
		if l, ok := s.lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return s.rootLine
}

// has reports whether the field at path is written in the file, even as
// null.
func (s *source) has(path string) bool {
	_, ok := s.lines[path]
	return ok
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// parentPath strips the last ".key" or "[i]" from path. A key with a dot
// in it, such as p99.9, is stripped one dot at a time, which still ends at
// an ancestor.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// schemaPath replaces sequence indexes with [], so "faults[3].at" becomes
// "faults[].at", for matching a path against the schema.
func schemaPath(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		b.WriteByte(c)
		if c == '[' {
			for i+1 < len(path) && path[i+1] != ']' {
				i++
			}
		}
	}
	return b.String()
}

// precheck rejects input nested deeper than maxDepth or with more than
// maxAnchors anchors and aliases. It reads bytes, not YAML: brackets and
// ampersands inside quoted text count too, which only matters for a file
// with dozens of unbalanced brackets or hundreds of & in its strings.
func precheck(file string, data []byte) *Error {
	depth, line, anchors := 0, 1, 0
	lineStart, prev := true, byte(' ')
	dashes := 0
	for i, c := range data {
		switch c {
		case '\n':
			line++
			lineStart, dashes = true, 0
		case '[', '{':
			depth++
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '-':
			if lineStart && i+1 < len(data) && data[i+1] == ' ' {
				dashes++
			}
		case '&', '*':
			if (prev == ' ' || prev == '\n' || prev == '[' || prev == '{' || prev == ',' || prev == ':') &&
				i+1 < len(data) && data[i+1] != ' ' && data[i+1] != '\n' {
				anchors++
			}
		}
		if c != ' ' && c != '-' && c != '\n' {
			lineStart = false
		}
		prev = c
		if depth > maxDepth || dashes > maxDepth {
			return &Error{File: file, Line: line,
				Msg:  fmt.Sprintf("nested more than %d levels deep", maxDepth),
				Hint: "scenario files need only a few levels of nesting"}
		}
		if anchors > maxAnchors {
			return &Error{File: file, Line: line,
				Msg:  "anchors and aliases are not supported",
				Hint: "write the values out in full"}
		}
	}
	return nil
}

// newSource indexes the document body. It rejects what a scenario file
// has no use for and what would make decoding unpredictable: anchors,
// aliases, merge keys, tags and complex keys.
func newSource(file string, body ast.Node) (*source, *Error) {
	s := &source{
		file:     file,
		body:     body,
		rootLine: lineOf(body),
		lines:    map[string]int{},
		keys:     map[pos]string{},
		values:   map[pos]string{},
	}
	if err := s.index(body, ""); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *source) index(n ast.Node, path string) *Error {
	switch n := n.(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		for _, mv := range n.Values {
			if err := s.indexEntry(mv, path); err != nil {
				return err
			}
		}
	case *ast.MappingValueNode:
		return s.indexEntry(n, path)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			p := indexPath(path, i)
			if v == nil {
				continue
			}
			s.lines[p] = lineOf(v)
			s.noteValue(v, p)
			if err := s.index(v, p); err != nil {
				return err
			}
		}
	case *ast.AnchorNode, *ast.AliasNode:
		return &Error{File: s.file, Line: lineOf(n), Field: path,
			Msg:  "anchors and aliases are not supported",
			Hint: "write the value out in full"}
	case *ast.TagNode:
		return &Error{File: s.file, Line: lineOf(n), Field: path,
			Msg:  fmt.Sprintf("tag %s is not supported", n.Start.Value),
			Hint: "remove the tag; scenario values are plain YAML"}
	}
	return nil
}

func (s *source) indexEntry(mv *ast.MappingValueNode, path string) *Error {
	key, ok := keyString(mv.Key)
	if !ok {
		return &Error{File: s.file, Line: lineOf(mv.Key), Field: path,
			Msg:  "only plain keys are supported",
			Hint: "write keys as plain words, without ?, <<, anchors or tags"}
	}
	p := joinPath(path, key)
	s.keys[posOf(mv.Key.GetToken())] = p
	s.lines[p] = lineOf(mv.Key)
	if mv.Value == nil || mv.Value.Type() == ast.NullType {
		return nil
	}
	s.noteValue(mv.Value, p)
	return s.index(mv.Value, p)
}

// noteValue records the path of a value's token. A nested mapping's token
// is its first key's, so the outer path is kept: a type error there is
// about the outer field.
func (s *source) noteValue(n ast.Node, path string) {
	p := posOf(n.GetToken())
	if _, ok := s.values[p]; !ok {
		s.values[p] = path
	}
}

func keyString(k ast.MapKeyNode) (string, bool) {
	switch k := k.(type) {
	case *ast.StringNode:
		return k.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode,
		*ast.InfinityNode, *ast.NanNode:
		if tk := k.GetToken(); tk != nil {
			return tk.Value, true
		}
	}
	return "", false
}

// describe names a node's YAML type for error messages.
func describe(n ast.Node) string {
	switch n.Type() {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.NullType:
		return "null"
	}
	return quote(n.GetToken().Value)
}

// describeType names a Go type of the raw schema for error messages.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

// yamlFields returns the YAML field names of struct type t, in order.
func yamlFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" {
			names = append(names, strings.Split(tag, ",")[0])
		}
	}
	return names
}

func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.Split(f.Tag.Get("yaml"), ",")[0] == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// checkShape walks the AST against the raw schema type t in file order,
// so the first unknown field or misplaced mapping or list in the file is
// the one reported, whatever order goccy/go-yaml would find them in.
func (s *source) checkShape(n ast.Node, t reflect.Type, path string) *Error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil || n.Type() == ast.NullType {
		return nil
	}
	want := func() *Error {
		return s.fail(path, fmt.Sprintf("want %s, got %s", describeType(t), describe(n)), fieldHint(path), nil)
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		entries, ok := mappingEntries(n)
		if !ok {
			return want()
		}
		for _, mv := range entries {
			key, _ := keyString(mv.Key)
			p := joinPath(path, key)
			ft := t
			if t.Kind() == reflect.Struct {
				f, ok := fieldByYAML(t, key)
				if !ok {
					return s.unknownField(mv, p, yamlFields(t))
				}
				ft = f.Type
			} else {
				ft = t.Elem()
			}
			if err := s.checkShape(mv.Value, ft, p); err != nil {
				return err
			}
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			return want()
		}
		for i, v := range seq.Values {
			if err := s.checkShape(v, t.Elem(), indexPath(path, i)); err != nil {
				return err
			}
		}
	default:
		switch n.Type() {
		case ast.MappingType, ast.MappingValueType, ast.SequenceType:
			return want()
		}
		// goccy/go-yaml would truncate 1.5 to 1 and read '100' as 100;
		// a count must be written as a whole number.
		switch t.Kind() {
		case reflect.Int, reflect.Int64:
			tk := n.GetToken()
			if quoted := tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType; !quoted && digitsRE.MatchString(tk.Value) && n.Type() != ast.IntegerType {
				return s.fail(path, fmt.Sprintf("%s is out of range", tk.Value), countHint, nil)
			}
			if n.Type() != ast.IntegerType {
				return want()
			}
		case reflect.Float64:
			if n.Type() != ast.IntegerType && n.Type() != ast.FloatType {
				return want()
			}
		}
	}
	return nil
}

func mappingEntries(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch n := n.(type) {
	case *ast.MappingNode:
		return n.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{n}, true
	}
	return nil, false
}

func (s *source) unknownField(mv *ast.MappingValueNode, path string, known []string) *Error {
	key, _ := keyString(mv.Key)
	parent := parentPath(path)
	where := "the top level"
	if parent != "" {
		where = schemaPath(parent)
	}
	hint := fmt.Sprintf("%s takes: %s", where, strings.Join(known, ", "))
	if near := nearest(key, known); near != "" {
		hint = fmt.Sprintf("did you mean %q? %s", near, hint)
	}
	if strings.HasSuffix(schemaPath(parent), ".at") {
		hint += "; " + atHint
	}
	return &Error{File: s.file, Line: lineOf(mv.Key), Field: path, Msg: "unknown field", Hint: hint}
}

// nearest returns the candidate within edit distance 2 of s, or "".
func nearest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fromYAML turns an error from goccy/go-yaml into an *Error, with the
// field path of the token it names.
func (s *source) fromYAML(err error) *Error {
	e := &Error{File: s.file, Msg: err.Error(), Err: err}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return e
	}
	e.Msg = ye.GetMessage()
	tk := ye.GetToken()
	if tk == nil || tk.Position == nil {
		return e
	}
	e.Line = tk.Position.Line
	var (
		te *yaml.TypeError
		oe *yaml.OverflowError
		ue *yaml.UnknownFieldError
	)
	switch {
	case errors.As(err, &ue):
		e.Field = s.keys[posOf(tk)]
		e.Msg = "unknown field"
	case errors.As(err, &te):
		e.Field = s.values[posOf(tk)]
		e.Msg = fmt.Sprintf("want %s, got %s", describeType(te.DstType), quote(tk.Value))
	case errors.As(err, &oe):
		e.Field = s.values[posOf(tk)]
		e.Msg = fmt.Sprintf("%s is out of range", oe.SrcNum)
	default:
		e.Field = s.values[posOf(tk)]
	}
	e.Hint = fieldHint(e.Field)
	return e
}

// Hints shared by several fields.
const (
	atHint       = "at is a logical position, {op: N}, {op_between: [A, B]} or {step: N}, never a wall time, so that a seed always replays the same schedule"
	durationHint = "durations take a unit, as in 500ms, 2s or 5m"
	countHint    = "write a whole number, such as 5000"
)

// fieldHint returns the hint for a field whatever its problem, or "".
func fieldHint(path string) string {
	p := schemaPath(path)
	switch {
	case p == "faults[].at" || strings.HasPrefix(p, "faults[].at."):
		return atHint
	case slices.Contains([]string{"store.sync_interval", "store.stale_after", "store.checkpoint_period",
		"faults[].offset", "faults[].duration"}, p),
		strings.HasPrefix(p, "thresholds.") && strings.Count(p, ".") >= 2:
		return durationHint
	case slices.Contains([]string{"workload.ops", "workload.quick_ops",
		"workload.producers", "workload.processors", "workload.processes",
		"workload.value_size", "workload.subjects", "store.failed_ops_alert",
		"faults[].count", "faults[].bytes", "faults[].length",
		"faults[].processor", "faults[].limit", "faults[].batch",
		"faults[].delta"}, p):
		return countHint
	}
	return ""
}
