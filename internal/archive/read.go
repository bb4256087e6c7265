package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"filippo.io/age"
)

// Expect is what Read checks beyond the archive's own consistency.
type Expect struct {
	// SchemaVersion, when not zero, is the schema version the backup must
	// carry. Schema versions therefore start at 1.
	SchemaVersion int
}

// ageIntro is the first line of every binary age file.
const ageIntro = "age-encryption.org/v1\n"

// RecordFunc receives one record of a box being read. key and value are
// valid only during the call. An error stops the delivery of records; see
// [Read].
type RecordFunc func(key, value []byte) error

// Read decrypts the archive read from src with identity and verifies all of
// it in one pass, writing nothing anywhere. When a box's entry starts it
// calls open with the box's meta; the RecordFunc open returns receives the
// box's records in key order, decoded. open may return nil to skip a box's
// records (they are still verified).
//
// Records arrive before the checks that can only run at the end of their
// box (hash, count) and of the archive (truncation, trailing data, schema):
// a caller must treat them as provisional and discard what it made of them
// when Read returns an error. Nothing should change for real before Read has
// returned nil.
//
// Checks run in this order, and the first failure is returned:
//
//  1. the age header: ErrWrongKey, ErrTruncated, ErrTampered;
//  2. backup_meta.json is the first entry, at most MaxMetaSize bytes, and
//     self-consistent: ErrTampered, ErrUnsupportedFormat, ErrUnsafeEntry;
//  3. each further entry, as it arrives: its name and type are safe and
//     known (ErrUnsafeEntry), and it is the next box listed in the meta
//     (ErrTampered); its size (ErrCountMismatch), then its SHA-256
//     (ErrHashMismatch), then its lines, canonical and strictly ascending by
//     key (ErrTampered), then its record count (ErrCountMismatch);
//  4. nothing follows the last box but the tar trailer, and age's final
//     chunk authenticates: ErrTruncated, ErrTampered;
//  5. the schema version against expect: *SchemaMismatchError;
//  6. only then, the first error a RecordFunc or open returned, unchanged.
//
// After a RecordFunc's error Read delivers no more records but still reads
// and verifies the rest, so an archive's own damage is always reported as
// such. A canceled ctx stops it at once.
func Read(ctx context.Context, src io.Reader, identity age.Identity, expect Expect, open func(BoxMeta) (RecordFunc, error)) (Meta, error) {
	if identity == nil {
		return Meta{}, errors.New("read archive: no identity")
	}
	x := &reader{src: &sourceReader{r: src}, open: open}
	m, err := x.run(ctx, identity)
	if err != nil {
		return Meta{}, err
	}
	if expect.SchemaVersion != 0 && m.SchemaVersion != expect.SchemaVersion {
		return Meta{}, &SchemaMismatchError{Want: expect.SchemaVersion, Got: m.SchemaVersion}
	}
	if x.sinkErr != nil {
		return Meta{}, x.sinkErr
	}
	return m, nil
}

// reader holds one Read's state. Its two recording wrappers let an error
// that surfaces through the tar reader be traced to its real cause.
type reader struct {
	src   *sourceReader // the encrypted input
	plain *plainReader  // age's plaintext
	open  func(BoxMeta) (RecordFunc, error)

	sink    RecordFunc // the current box's, nil once one failed
	sinkErr error      // the first error of open or a RecordFunc

	h    hash.Hash
	lr   *bufio.Reader
	long []byte // spill buffer for lines longer than lr's buffer
	dec  lineDecoder
	prev []byte
}

func (x *reader) run(ctx context.Context, identity age.Identity) (Meta, error) {
	br := bufio.NewReaderSize(x.src, 64<<10)
	if err := x.checkIntro(br); err != nil {
		return Meta{}, err
	}
	ar, err := age.Decrypt(br, identity)
	if err != nil {
		return Meta{}, x.headerErr(err)
	}
	x.plain = &plainReader{r: ar}
	tr := tar.NewReader(x.plain)

	m, err := x.readMeta(tr)
	if err != nil {
		return Meta{}, err
	}

	listed := make(map[string]int, len(m.Boxes))
	for i, bm := range m.Boxes {
		listed[bm.Name] = i
	}
	sawDir := false
	for i := 0; i < len(m.Boxes); {
		if err := ctx.Err(); err != nil {
			return Meta{}, err
		}
		bm := m.Boxes[i]
		hdr, kind, name, err := x.next(tr)
		switch {
		case err == io.EOF:
			return Meta{}, tampered("box %q is listed in %s but missing", bm.Name, metaName)
		case err != nil:
			return Meta{}, err
		case kind == entryBoxesDir && !sawDir:
			sawDir = true
			continue
		case kind != entryBox:
			return Meta{}, tampered("entry %s appears twice", quoteName(hdr.Name))
		case name != bm.Name:
			j, ok := listed[name]
			switch {
			case !ok:
				return Meta{}, tampered("entry %s is not listed in %s", quoteName(hdr.Name), metaName)
			case j < i:
				return Meta{}, tampered("entry %s appears twice", quoteName(hdr.Name))
			default:
				return Meta{}, tampered("entry %s comes before box %q", quoteName(hdr.Name), bm.Name)
			}
		case hdr.Size != bm.Bytes:
			return Meta{}, fmt.Errorf("box %q is %d bytes, %s says %d: %w", bm.Name, hdr.Size, metaName, bm.Bytes, ErrCountMismatch)
		}
		if err := x.readBox(ctx, tr, bm); err != nil {
			return Meta{}, err
		}
		i++
	}

	switch hdr, _, _, err := x.next(tr); {
	case err == nil:
		return Meta{}, tampered("entry %s follows the last box listed in %s", quoteName(hdr.Name), metaName)
	case err != io.EOF:
		return Meta{}, err
	}
	// Reading to age's EOF is what authenticates the final chunk.
	if _, err := io.Copy(zeroWriter{ctx}, x.plain); err != nil {
		if err == errNonZero {
			return Meta{}, tampered("data follows the end of the tar stream")
		}
		if ctx.Err() != nil {
			return Meta{}, ctx.Err()
		}
		return Meta{}, x.streamErr(err)
	}
	return m, nil
}

// checkIntro tells a file cut inside age's first line (ErrTruncated) from
// one that is not an age file at all (ErrTampered); age reports both as a
// parse error.
func (x *reader) checkIntro(br *bufio.Reader) error {
	p, err := br.Peek(len(ageIntro))
	if err == nil {
		return nil
	}
	if x.src.err != nil {
		return fmt.Errorf("reading archive: %w", x.src.err)
	}
	if strings.HasPrefix(ageIntro, string(p)) {
		return fmt.Errorf("%d-byte file: %w", len(p), ErrTruncated)
	}
	return tampered("not an age file")
}

// next reads and classifies the next tar entry: io.EOF at the end of the
// stream, streamErr's error for a stream that does not read, or
// classifyEntry's for an entry the format does not allow.
func (x *reader) next(tr *tar.Reader) (*tar.Header, entryKind, string, error) {
	hdr, err := tr.Next()
	if err == io.EOF {
		return nil, 0, "", io.EOF
	}
	if err != nil {
		return nil, 0, "", x.streamErr(err)
	}
	kind, name, err := classifyEntry(hdr)
	return hdr, kind, name, err
}

func (x *reader) readMeta(tr *tar.Reader) (Meta, error) {
	hdr, kind, _, err := x.next(tr)
	switch {
	case err == io.EOF:
		return Meta{}, tampered("the tar stream is empty")
	case err != nil:
		return Meta{}, err
	case kind != entryMeta:
		return Meta{}, tampered("first entry is %s, want %s", quoteName(hdr.Name), metaName)
	case hdr.Size > MaxMetaSize:
		return Meta{}, tampered("%s is %d bytes, over the %d-byte cap", metaName, hdr.Size, MaxMetaSize)
	}
	raw, err := io.ReadAll(tr)
	if err != nil {
		return Meta{}, x.streamErr(err)
	}
	return decodeMeta(raw)
}

// readBox streams one dump from tr, hashing it, checking its lines and
// handing its records to the box's RecordFunc on the way.
func (x *reader) readBox(ctx context.Context, tr *tar.Reader, bm BoxMeta) error {
	x.sink = nil
	if x.sinkErr == nil && x.open != nil {
		x.sink, x.sinkErr = x.open(bm)
	}
	if x.h == nil {
		x.h = sha256.New()
		x.lr = bufio.NewReaderSize(nil, 256<<10)
	}
	x.h.Reset()
	x.lr.Reset(io.TeeReader(tr, x.h))

	var n int64
	var lineErr error
	for {
		line, err := readLine(x.lr, &x.long)
		if len(line) > 0 && lineErr == nil {
			lineErr = x.checkLine(line, n)
			n++
			if n%ctxCheckEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err == errLineTooLong {
			if lineErr == nil {
				lineErr = fmt.Errorf("line %d is longer than %d bytes", n+1, MaxLineSize)
			}
			if _, err = io.Copy(io.Discard, x.lr); err == nil {
				break
			}
		}
		if err != nil {
			return x.streamErr(err)
		}
	}
	if sum := hex.EncodeToString(x.h.Sum(nil)); sum != bm.SHA256 {
		return fmt.Errorf("box %q has sha256 %s, %s says %s: %w", bm.Name, sum, metaName, bm.SHA256, ErrHashMismatch)
	}
	if lineErr != nil {
		return tampered("box %q: %v", bm.Name, lineErr)
	}
	if n != bm.Records {
		return fmt.Errorf("box %q has %d records, %s says %d: %w", bm.Name, n, metaName, bm.Records, ErrCountMismatch)
	}
	return nil
}

// checkLine checks that line, the (n+1)th of its box, is canonical and its
// key sorts strictly after the previous one, then hands the record on.
func (x *reader) checkLine(line []byte, n int64) error {
	if err := x.dec.decode(line); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	if n > 0 && bytes.Compare(x.prev, x.dec.key) >= 0 {
		return fmt.Errorf("line %d: key is not after the previous key", n+1)
	}
	x.prev = append(x.prev[:0], x.dec.key...)
	if x.sink != nil {
		if err := x.sink(x.dec.key, x.dec.value); err != nil {
			x.sink, x.sinkErr = nil, err
		}
	}
	return nil
}

// headerErr maps an error from age.Decrypt, which reads only the header.
func (x *reader) headerErr(err error) error {
	var noMatch *age.NoIdentityMatchError
	switch {
	case x.src.err != nil:
		return fmt.Errorf("reading archive: %w", x.src.err)
	case errors.Is(err, ErrTampered):
		return err
	case errors.As(err, &noMatch):
		return fmt.Errorf("decrypting header: %w: %w", err, ErrWrongKey)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("decrypting header: %v: %w", err, ErrTruncated)
	default:
		return tampered("decrypting header: %v", err)
	}
}

// streamErr maps an error met while reading the tar stream to its cause: a
// failed write, a failed read of the input, age, or the tar structure.
func (x *reader) streamErr(err error) error {
	switch {
	case x.src.err != nil:
		return fmt.Errorf("reading archive: %w", x.src.err)
	case x.plain.err == nil:
		return tampered("tar stream: %v", err)
	case errors.Is(x.plain.err, io.ErrUnexpectedEOF):
		// age saw the input end on a chunk boundary with no final chunk.
		return fmt.Errorf("decrypting: %v: %w", x.plain.err, ErrTruncated)
	case x.src.eof:
		// The chunk that failed was the input's last: cut or flipped, age
		// cannot say which.
		return &cutOrDamagedError{cause: x.plain.err}
	default:
		return tampered("decrypting: %v", x.plain.err)
	}
}

type entryKind int

const (
	entryMeta entryKind = iota
	entryBox
	entryBoxesDir
)

// classifyEntry accepts only the names and types the layout allows and
// returns *UnsafeEntryError for everything else.
func classifyEntry(hdr *tar.Header) (entryKind, string, error) {
	name := hdr.Name
	unsafe := func(reason string) error { return &UnsafeEntryError{Name: name, Reason: reason} }
	switch {
	case name == "":
		return 0, "", unsafe("empty name")
	case strings.HasPrefix(name, "/"):
		return 0, "", unsafe("absolute path")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return 0, "", unsafe("path leaves the target directory")
		}
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
	case tar.TypeDir:
		if name == boxesDir+"/" || name == boxesDir {
			return entryBoxesDir, "", nil
		}
		return 0, "", unsafe("directory")
	case tar.TypeSymlink:
		return 0, "", unsafe("symbolic link to " + quoteName(hdr.Linkname))
	case tar.TypeLink:
		return 0, "", unsafe("hard link to " + quoteName(hdr.Linkname))
	case tar.TypeChar, tar.TypeBlock:
		return 0, "", unsafe("device node")
	case tar.TypeFifo:
		return 0, "", unsafe("FIFO")
	default:
		return 0, "", unsafe(fmt.Sprintf("entry type %q", hdr.Typeflag))
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return 0, "", unsafe("sparse file")
		}
	}
	if name == metaName {
		return entryMeta, "", nil
	}
	if rest, ok := strings.CutPrefix(name, boxesDir+"/"); ok {
		if box, ok := strings.CutSuffix(rest, boxSuffix); ok && ValidBoxName(box) {
			return entryBox, box, nil
		}
	}
	return 0, "", unsafe("unknown entry")
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line, newline included; the last line of a file
// may lack one. It spills into *long only for lines longer than r's buffer.
func readLine(r *bufio.Reader, long *[]byte) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	*long = append((*long)[:0], line...)
	for {
		line, err = r.ReadSlice('\n')
		if len(*long)+len(line) > MaxLineSize {
			return nil, errLineTooLong
		}
		*long = append(*long, line...)
		if err != bufio.ErrBufferFull {
			return *long, err
		}
	}
}

// sourceReader records how the encrypted input ended.
type sourceReader struct {
	r   io.Reader
	eof bool  // the input returned io.EOF
	err error // the input's first other error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.eof = true
	} else if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// plainReader records age's first error, which the tar reader may replace.
type plainReader struct {
	r   io.Reader
	err error
}

func (p *plainReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF && p.err == nil {
		p.err = err
	}
	return n, err
}

var errNonZero = errors.New("non-zero byte")

// zeroWriter accepts only zero bytes: the tar trailer's padding.
type zeroWriter struct{ ctx context.Context }

func (z zeroWriter) Write(p []byte) (int, error) {
	if err := z.ctx.Err(); err != nil {
		return 0, err
	}
	for _, c := range p {
		if c != 0 {
			return 0, errNonZero
		}
	}
	return len(p), nil
}
