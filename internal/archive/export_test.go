package archive

// Extract and ReadBox exist for this package's tests only: they unpack an
// archive into files through Read, the way an older version of the store
// staged restores, so the tests can look at what was verified. The store
// never writes a decrypted dump to disk.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
)

// Extract verifies the archive with Read and writes dir/backup_meta.json and
// dir/boxes/<box>.jsonl (canonical lines) through an os.Root; dir must be
// empty. On error it removes what it wrote.
func Extract(ctx context.Context, src io.Reader, identity age.Identity, dir string, expect Expect) (_ Meta, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Meta{}, fmt.Errorf("opening extract directory: %w", err)
	}
	defer root.Close()
	f, err := root.Open(".")
	if err != nil {
		return Meta{}, err
	}
	names, _ := f.Readdirnames(1)
	f.Close()
	if len(names) > 0 {
		return Meta{}, fmt.Errorf("extract directory %s: directory is not empty", dir)
	}
	dumps := map[string]*bytes.Buffer{}
	var order []string
	m, err := Read(ctx, src, identity, expect, func(bm BoxMeta) (RecordFunc, error) {
		var buf bytes.Buffer
		dumps[bm.Name] = &buf
		order = append(order, bm.Name)
		var line, scratch []byte
		return func(k, v []byte) error {
			line, err = appendLine(line[:0], &scratch, string(k), string(v))
			buf.Write(line)
			return err
		}, nil
	})
	if err != nil {
		return Meta{}, err
	}
	var created []string
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				root.Remove(created[i])
			}
		}
	}()
	write := func(name string, data []byte) error {
		created = append(created, name)
		return root.WriteFile(name, data, 0o600)
	}
	raw, err := encodeMeta(m)
	if err != nil {
		return Meta{}, err
	}
	if err = write(metaName, raw); err != nil {
		return Meta{}, err
	}
	created = append(created, boxesDir)
	if err = root.Mkdir(boxesDir, 0o700); err != nil {
		return Meta{}, err
	}
	for _, name := range order {
		if err = write(boxEntryName(name), dumps[name].Bytes()); err != nil {
			return Meta{}, err
		}
	}
	return m, nil
}

// ReadBox calls fn for each record of box name in dir, a directory Extract
// filled, in key order, checking the lines again.
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
			if ferr := fn(string(dec.key), string(dec.value)); ferr != nil {
				return ferr
			}
			if n%ctxCheckEvery == 0 {
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errLineTooLong):
			return tampered("box %q, line %d: longer than %d bytes", name, n, MaxLineSize)
		default:
			return fmt.Errorf("reading box %q: %w", name, err)
		}
	}
}
