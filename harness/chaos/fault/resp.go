package fault

// buntdb's append-only file, as the faults that move records read it: a
// sequence of RESP arrays of bulk strings, "*3\r\n$3\r\nset\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
// (docs/store-format.md). Values are binary and may hold CRLF, so the file
// is read by its length prefixes, never by lines.

import (
	"bytes"
	"fmt"
	"strconv"
)

// command is one RESP command of a box file.
type command struct {
	start, end int64 // its bytes in the file
	args       [][]byte
}

// parseCommands reads b's whole commands, stopping at the first that is
// incomplete or malformed.
func parseCommands(b []byte) []command {
	var out []command
	pos := 0
	readLine := func() ([]byte, bool) {
		i := bytes.Index(b[pos:], []byte("\r\n"))
		if i < 0 {
			return nil, false
		}
		line := b[pos : pos+i]
		pos += i + 2
		return line, true
	}
	for pos < len(b) {
		start := pos
		line, ok := readLine()
		if !ok || len(line) < 2 || line[0] != '*' {
			return out
		}
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil || n < 1 || n > 16 {
			return out
		}
		args := make([][]byte, 0, n)
		for range n {
			line, ok := readLine()
			if !ok || len(line) < 2 || line[0] != '$' {
				return out
			}
			l, err := strconv.Atoi(string(line[1:]))
			if err != nil || l < 0 || pos+l+2 > len(b) || b[pos+l] != '\r' || b[pos+l+1] != '\n' {
				return out
			}
			args = append(args, b[pos:pos+l])
			pos += l + 2
		}
		out = append(out, command{start: int64(start), end: int64(pos), args: args})
	}
	return out
}

// encodeCommand writes args as one RESP command.
func encodeCommand(args ...[]byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n", len(a))
		b.Write(a)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}
