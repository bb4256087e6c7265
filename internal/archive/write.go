package archive

import (
	"archive/tar"
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"filippo.io/age"
)

// Records yields a box's records through yield, in strictly ascending byte
// order of key, and stops early when yield returns false. It returns an error
// only for a failure of its own.
//
// Write calls it twice: once to count and hash the dump for
// backup_meta.json, which comes first in the archive, and once to write it.
// The counting runs of different boxes may overlap in time, so Records of
// different boxes must not share unsynchronized state; one box's runs never
// overlap. Both runs must yield the same sequence; Write checks that they do and fails
// with ErrInvalidInput otherwise. Calling Write inside the boxes' read
// transactions gives both that and a consistent snapshot, and a buntdb
// transaction's Ascend fits as is:
//
//	err := db.View(func(tx *buntdb.Tx) error {
//		_, err := archive.Write(ctx, f, key.Recipient(), meta, []archive.Box{{
//			Name:    "pending_ops",
//			Records: func(yield func(k, v string) bool) error { return tx.Ascend("", yield) },
//		}})
//		return err
//	})
//
// Keys must be non-empty printable ASCII (0x20 to 0x7e). Values are opaque.
// yield does not retain key or value after it returns.
type Records func(yield func(key, value string) bool) error

// Box is one box to archive.
type Box struct {
	Name    string // must satisfy ValidBoxName
	Records Records
}

// ctxCheckEvery is how many records pass between context checks.
const ctxCheckEvery = 1024

// Write writes an age-encrypted archive of boxes to dst, encrypted to
// recipient, and returns the Meta it recorded.
//
// From meta it takes SchemaVersion, CreatedAt (required; stored in UTC),
// StoreID and ToolVersion; it fills FormatVersion and Boxes itself. Boxes are
// stored sorted by name. Write neither closes nor syncs dst.
//
// If Write fails, whatever it wrote to dst lacks age's final chunk, so
// Read rejects it with ErrTruncated; the caller should still delete it.
func Write(ctx context.Context, dst io.Writer, recipient age.Recipient, meta Meta, boxes []Box) (Meta, error) {
	if recipient == nil {
		return Meta{}, invalidInput("no recipient")
	}
	if meta.CreatedAt.IsZero() {
		return Meta{}, invalidInput("meta.CreatedAt is not set")
	}
	boxes = slices.Clone(boxes)
	slices.SortFunc(boxes, func(a, b Box) int { return cmp.Compare(a.Name, b.Name) })
	for i, b := range boxes {
		if !ValidBoxName(b.Name) {
			return Meta{}, invalidInput("box name %q does not match ^[a-z0-9_]{1,64}$", b.Name)
		}
		if i > 0 && boxes[i-1].Name == b.Name {
			return Meta{}, invalidInput("box %q given twice", b.Name)
		}
		if b.Records == nil {
			return Meta{}, invalidInput("box %q has no Records", b.Name)
		}
	}

	meta.FormatVersion = FormatVersion
	meta.CreatedAt = meta.CreatedAt.UTC()
	meta.Boxes = make([]BoxMeta, 0, len(boxes))
	counted, err := countBoxes(ctx, boxes)
	if err != nil {
		return Meta{}, err
	}
	meta.Boxes = append(meta.Boxes, counted...)
	metaJSON, err := encodeMeta(meta)
	if err != nil {
		return Meta{}, err
	}

	aw, err := age.Encrypt(dst, recipient)
	if err != nil {
		return Meta{}, fmt.Errorf("starting age encryption: %w", err)
	}
	// Box dumps reach tar and age 256 KiB at a time (see pipe).
	tw := tar.NewWriter(aw)
	mtime := meta.CreatedAt.Truncate(time.Second)
	if err := writeEntry(tw, metaName, int64(len(metaJSON)), mtime); err != nil {
		return Meta{}, err
	}
	if _, err := tw.Write(metaJSON); err != nil {
		return Meta{}, fmt.Errorf("writing %s: %w", metaName, err)
	}
	enc := newBoxEncoder()
	for i, b := range boxes {
		want := meta.Boxes[i]
		if err := writeEntry(tw, boxEntryName(b.Name), want.Bytes, mtime); err != nil {
			return Meta{}, err
		}
		got, err := enc.pipe(ctx, b, tw, want.Bytes)
		if err != nil {
			return Meta{}, err
		}
		if got != want {
			return Meta{}, invalidInput("box %q: Records yielded a different sequence on its second run (%d records, %d bytes, then %d records, %d bytes)", b.Name, want.Records, want.Bytes, got.Records, got.Bytes)
		}
	}
	if err := tw.Close(); err != nil {
		return Meta{}, fmt.Errorf("finishing tar stream: %w", err)
	}
	// Only now does age write its final chunk, which makes the archive whole.
	if err := aw.Close(); err != nil {
		return Meta{}, fmt.Errorf("finishing age stream: %w", err)
	}
	return meta, nil
}

// countBoxes runs each box's counting run, as many at once as there are
// CPUs, and returns their summaries in the boxes' order.
func countBoxes(ctx context.Context, boxes []Box) ([]BoxMeta, error) {
	out := make([]BoxMeta, len(boxes))
	errs := make([]error, len(boxes))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, b := range boxes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = newBoxEncoder().pipe(ctx, b, nil, -1)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pipe runs box b through the encoder on its own goroutine and hashes
// its lines on this one, writing them to w as well unless w is nil (the
// counting run): base64 and the line building overlap SHA-256 and age.
func (e *boxEncoder) pipe(ctx context.Context, b Box, w io.Writer, limit int64) (BoxMeta, error) {
	pr, pw := io.Pipe()
	var bm BoxMeta
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriterSize(pw, 256<<10)
		bm, runErr = e.run(ctx, b, bw, limit)
		if runErr == nil {
			runErr = bw.Flush()
		}
		pw.CloseWithError(runErr)
	}()
	h := sha256.New()
	dst := io.Writer(h)
	if w != nil {
		dst = io.MultiWriter(h, w)
	}
	_, err := io.CopyBuffer(dst, pr, make([]byte, 256<<10))
	pr.CloseWithError(err) // unblocks the encoder if the copy failed
	<-done
	switch {
	case runErr != nil && (err == nil || err == runErr):
		return BoxMeta{}, runErr // the copy only passed the encoder's error on
	case err != nil:
		return BoxMeta{}, fmt.Errorf("writing box %q: %w", b.Name, err)
	}
	bm.SHA256 = hex.EncodeToString(h.Sum(nil))
	return bm, nil
}

func writeEntry(tw *tar.Writer, name string, size int64, mtime time.Time) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: mtime}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing tar header for %s: %w", name, err)
	}
	return nil
}

// boxEncoder turns one box's records into dump lines and counts them; pipe
// hashes them. Its buffers live across boxes and runs.
type boxEncoder struct {
	ctx     context.Context
	w       io.Writer // where the lines go: pipe's hashing end
	limit   int64     // bytes the writing run may produce; -1 on the counting run
	line    []byte
	scratch []byte
	prev    []byte
	n       int64
	bytes   int64
	err     error
}

func newBoxEncoder() *boxEncoder {
	return &boxEncoder{line: make([]byte, 0, 1024), scratch: make([]byte, 0, 1024)}
}

// run feeds box b through the encoder, writing its lines to w when w is not
// nil, and returns the box's summary. limit, unless -1, is the size the tar
// header announced; going past it means Records is not stable.
func (e *boxEncoder) run(ctx context.Context, b Box, w io.Writer, limit int64) (BoxMeta, error) {
	e.ctx, e.w, e.limit, e.n, e.bytes, e.err = ctx, w, limit, 0, 0, nil
	e.prev = e.prev[:0]
	if err := ctx.Err(); err != nil {
		return BoxMeta{}, err
	}
	err := b.Records(e.yield)
	if e.err != nil {
		return BoxMeta{}, fmt.Errorf("box %q, record %d: %w", b.Name, e.n+1, e.err)
	}
	if err != nil {
		return BoxMeta{}, fmt.Errorf("box %q: reading records: %w", b.Name, err)
	}
	return BoxMeta{Name: b.Name, Records: e.n, Bytes: e.bytes}, nil
}

func (e *boxEncoder) yield(key, value string) bool {
	if e.err != nil {
		return false
	}
	if e.n%ctxCheckEvery == 0 {
		if e.err = e.ctx.Err(); e.err != nil {
			return false
		}
	}
	if e.n > 0 && string(e.prev) >= key {
		e.err = invalidInput("keys are not in strictly ascending order")
		return false
	}
	line, err := appendLine(e.line[:0], &e.scratch, key, value)
	if err != nil {
		e.err = invalidInput("%v", err)
		return false
	}
	e.line = line
	if e.limit >= 0 && e.bytes+int64(len(line)) > e.limit {
		e.err = invalidInput("Records yielded more on its second run than on its first")
		return false
	}
	e.prev = append(e.prev[:0], key...)
	if _, err := e.w.Write(line); err != nil {
		e.err = err
		return false
	}
	e.n++
	e.bytes += int64(len(line))
	return true
}
