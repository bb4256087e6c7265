package archive

// The dump line codec. Lines are written by hand rather than through
// encoding/json: at a million records per box a reflective encoder costs more
// than the encryption. There is exactly one encoding of each record, and the
// decoder accepts only that one.

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// MaxLineSize caps one dump line, newline included. Write refuses longer
// records, and Read refuses longer lines, so a hostile archive
// cannot make them buffer without bound.
const MaxLineSize = 64 << 20

const (
	linePrefix = `{"k":"`
	lineMiddle = `","v":"`
	lineSuffix = "\"}\n"
)

// minLineSize is the shortest possible line: a one-byte key, an empty value.
const minLineSize = len(linePrefix) + 1 + len(lineMiddle) + len(lineSuffix)

var b64 = base64.StdEncoding.Strict()

// appendLine appends the line for one record to dst. scratch is reused for
// the value's bytes, so a caller that keeps it makes no allocation per line.
func appendLine(dst []byte, scratch *[]byte, key, value string) ([]byte, error) {
	if key == "" {
		return dst, errors.New("empty key")
	}
	if size := len(linePrefix) + 2*len(key) + len(lineMiddle) + b64.EncodedLen(len(value)) + len(lineSuffix); size > MaxLineSize {
		return dst, errors.New("record too large")
	}
	dst = append(dst, linePrefix...)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c < 0x20 || c > 0x7e {
			return dst, errors.New("key has a byte outside printable ASCII")
		}
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	dst = append(dst, lineMiddle...)
	*scratch = append((*scratch)[:0], value...)
	dst = b64.AppendEncode(dst, *scratch)
	return append(dst, lineSuffix...), nil
}

// lineDecoder parses lines into reused buffers.
type lineDecoder struct {
	key, value []byte
}

var errBadLine = errors.New("line is not a canonical record")

// decode parses one line, trailing newline included, into d.key and d.value.
func (d *lineDecoder) decode(line []byte) error {
	rest, ok := bytes.CutPrefix(line, []byte(linePrefix))
	if !ok {
		return errBadLine
	}
	d.key = d.key[:0]
	i := 0
	for ; i < len(rest); i++ {
		c := rest[i]
		if c == '"' {
			break
		}
		if c == '\\' {
			i++
			if i == len(rest) || rest[i] != '"' && rest[i] != '\\' {
				return errBadLine
			}
			c = rest[i]
		} else if c < 0x20 || c > 0x7e {
			return errBadLine
		}
		d.key = append(d.key, c)
	}
	if len(d.key) == 0 {
		return errBadLine
	}
	rest, ok = bytes.CutPrefix(rest[i:], []byte(lineMiddle))
	if !ok {
		return errBadLine
	}
	enc, ok := bytes.CutSuffix(rest, []byte(lineSuffix))
	if !ok {
		return errBadLine
	}
	// The decoder skips \r and \n, so insist on the exact encoded length.
	n := b64.DecodedLen(len(enc))
	if cap(d.value) < n {
		d.value = make([]byte, n)
	}
	n, err := b64.Decode(d.value[:n], enc)
	if err != nil || b64.EncodedLen(n) != len(enc) {
		return errBadLine
	}
	d.value = d.value[:n]
	return nil
}
