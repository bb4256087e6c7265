package archive

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
)

// ReadBox calls fn for each record of box name in dir, a directory Extract
// filled, in key order. It stops at fn's first error and returns it. It
// checks the lines again, so a file changed since Extract gives ErrTampered
// rather than wrong records; it does not check the hash again.
//
// key and value share one allocation per record, so a caller that keeps
// either keeps both alive (buntdb keeps both anyway).
func ReadBox(ctx context.Context, dir, name string, fn func(key, value string) error) error {
	if !ValidBoxName(name) {
		return fmt.Errorf("reading box %q: name does not match ^[a-z0-9_]{1,64}$", name)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("reading box %q: %w", name, err)
	}
	defer root.Close()
	f, err := root.Open(boxEntryName(name))
	if err != nil {
		return fmt.Errorf("reading box %q: %w", name, err)
	}
	defer f.Close()

	r := bufio.NewReaderSize(f, 256<<10)
	var (
		dec  lineDecoder
		long []byte
		prev []byte
		kv   []byte
	)
	for n := int64(1); ; n++ {
		line, err := readLine(r, &long)
		if len(line) > 0 {
			if derr := dec.decode(line); derr != nil {
				return tampered("box %q, line %d: %v", name, n, derr)
			}
			if n > 1 && bytes.Compare(prev, dec.key) >= 0 {
				return tampered("box %q, line %d: key is not after the previous key", name, n)
			}
			prev = append(prev[:0], dec.key...)
			kv = append(append(kv[:0], dec.key...), dec.value...)
			s := string(kv)
			if ferr := fn(s[:len(dec.key)], s[len(dec.key):]); ferr != nil {
				return ferr
			}
			if n%ctxCheckEvery == 0 {
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
			}
		}
		switch err {
		case nil:
		case io.EOF:
			return nil
		case errLineTooLong:
			return tampered("box %q, line %d: longer than %d bytes", name, n, MaxLineSize)
		default:
			return fmt.Errorf("reading box %q: %w", name, err)
		}
	}
}
