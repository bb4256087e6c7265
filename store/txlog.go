package store

// The transaction log framing. buntdb appends each transaction's records
// with one write call, in random order, with nothing that marks where a
// transaction ends; a torn write is then loaded half-applied, and a damaged
// length prefix makes buntdb truncate everything after it. So every
// transaction the store commits carries one extra record, the marker, under
// the reserved key "\x00txn". It holds the transaction's sequence number,
// its record count (marker included), its size in bytes, and HMAC tags over
// itself and the transaction's other records. The scanner in this file reads a
// box file before buntdb does and decides, transaction by transaction,
// whether the file is whole, has a torn tail, or is damaged.

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

const (
	markerKey     = "\x00txn"
	markerVersion = 1
	// version, key id, seq, count, byte length, high-water, header MAC, MAC
	markerHeaderLen = 1 + 4 + 8 + 4 + 8 + 8
	markerLen       = markerHeaderLen + 8 + 16
)

// txRecord is one record of a transaction, as written to the file.
type txRecord struct {
	del bool
	key string
	val string // sealed value; empty for a delete
}

// marker is the decoded marker of one transaction. The marker is the one
// record that is not sealed: it holds no data, only framing, and carries
// two HMAC-SHA256 tags under a key derived from the box's data key: one of
// its own header, so a marker found among damaged bytes can be trusted, and
// one of the header and every other record of the transaction.
type marker struct {
	keyID  uint32
	seq    uint64
	count  uint32 // records in the transaction, marker included
	length uint64 // bytes of the transaction, marker included
	high   uint64 // the box owner's high-water mark (the queue's last sequence number)
}

func (m marker) header() []byte {
	b := make([]byte, 0, markerLen)
	b = append(b, markerVersion)
	b = binary.BigEndian.AppendUint32(b, m.keyID)
	b = binary.BigEndian.AppendUint64(b, m.seq)
	b = binary.BigEndian.AppendUint32(b, m.count)
	b = binary.BigEndian.AppendUint64(b, m.length)
	return binary.BigEndian.AppendUint64(b, m.high)
}

// encode returns the marker value: header, header tag, transaction tag.
func (m marker) encode(mac hash.Hash, box string, recs []txRecord) string {
	b := m.header()
	b = append(b, headerTag(mac, box, b)...)
	b = append(b, txnTag(mac, box, b, recs)...)
	return string(b)
}

// parseMarker checks a marker's header tag and decodes it.
//
// macs caches one HMAC per key id for the duration of a scan: building an
// HMAC per transaction dominated the scan of files of small transactions.
func parseMarker(v string, s *sealer, macs map[uint32]hash.Hash) (marker, hash.Hash, error) {
	if len(v) != markerLen || v[0] != markerVersion {
		return marker{}, nil, errors.New("malformed")
	}
	b := []byte(v)
	m := marker{
		keyID:  binary.BigEndian.Uint32(b[1:5]),
		seq:    binary.BigEndian.Uint64(b[5:13]),
		count:  binary.BigEndian.Uint32(b[13:17]),
		length: binary.BigEndian.Uint64(b[17:25]),
		high:   binary.BigEndian.Uint64(b[25:33]),
	}
	mac := macs[m.keyID]
	if mac == nil {
		mac = s.newMAC(m.keyID)
		macs[m.keyID] = mac
	}
	if mac == nil {
		return marker{}, nil, fmt.Errorf("names unknown key id %d", m.keyID)
	}
	if !hmac.Equal(headerTag(mac, s.box, b[:markerHeaderLen]), b[markerHeaderLen:markerHeaderLen+8]) {
		return marker{}, nil, errors.New("fails authentication")
	}
	if m.count < 1 {
		return marker{}, nil, errors.New("counts no records")
	}
	return m, mac, nil
}

// verifyMarker checks the transaction tag of a parsed marker against recs.
func verifyMarker(v string, mac hash.Hash, box string, recs []txRecord) bool {
	b := []byte(v)
	return hmac.Equal(txnTag(mac, box, b[:markerHeaderLen+8], recs), b[markerHeaderLen+8:])
}

func headerTag(mac hash.Hash, box string, header []byte) []byte {
	mac.Reset()
	mac.Write([]byte("boxstorm/txn-header/v1\x00" + box + "\x00"))
	mac.Write(header)
	return mac.Sum(nil)[:8]
}

// txnTag authenticates the records of a transaction, marker excluded, in
// key order, so the file's random record order does not matter.
func txnTag(mac hash.Hash, box string, prefix []byte, recs []txRecord) []byte {
	if !slices.IsSortedFunc(recs, cmpRecords) {
		recs = slices.Clone(recs)
		slices.SortFunc(recs, cmpRecords)
	}
	// One Write of the whole encoding: per-call overhead dominated large
	// transactions when every field was a Write of its own.
	size := len(prefix) + len(box) + 20
	for _, r := range recs {
		size += 9 + len(r.key) + len(r.val)
	}
	buf := appendTagInput(make([]byte, 0, size), box, prefix, recs)
	mac.Reset()
	mac.Write(buf)
	return mac.Sum(nil)[:16]
}

// appendTagInput appends what a transaction tag authenticates: the domain,
// the box, the marker's header and header tag (prefix), and each record in
// the order given (key order) with its kind and lengths.
func appendTagInput(buf []byte, box string, prefix []byte, recs []txRecord) []byte {
	buf = append(buf, "boxstorm/txn/v1\x00"...)
	buf = append(buf, box...)
	buf = append(buf, 0)
	buf = append(buf, prefix...)
	for _, r := range recs {
		kind := byte('s')
		if r.del {
			kind = 'd'
		}
		buf = append(buf, kind)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(r.key)))
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(r.val)))
		buf = append(buf, r.key...)
		buf = append(buf, r.val...)
	}
	return buf
}

func cmpRecords(a, b txRecord) int { return strings.Compare(a.key, b.key) }

func bulkLen(n int) int { return 1 + len(strconv.Itoa(n)) + 2 + n + 2 }

// recordLen is the size of a record in buntdb's append-only file format.
func recordLen(r txRecord) int {
	if r.del {
		return len("*2\r\n") + bulkLen(3) + bulkLen(len(r.key))
	}
	return len("*3\r\n") + bulkLen(3) + bulkLen(len(r.key)) + bulkLen(len(r.val))
}

// markerRecordLen is the file size of the marker record.
var markerRecordLen = recordLen(txRecord{key: markerKey, val: strings.Repeat("x", markerLen)})

// newMarker builds the marker for a transaction of recs.
func newMarker(keyID uint32, seq, high uint64, recs []txRecord) marker {
	length := markerRecordLen
	for _, r := range recs {
		length += recordLen(r)
	}
	return marker{keyID: keyID, seq: seq, count: uint32(len(recs) + 1), length: uint64(length), high: high}
}

// fileRecord is a parsed record with its position in the file.
type fileRecord struct {
	txRecord
	off, end int
}

var errIncomplete = errors.New("incomplete record")

// parseRecord parses the record at d[off:]. It returns errIncomplete when d
// ends inside a record whose bytes so far are well formed, and another error
// (naming the reason) when the bytes cannot be a record. It never panics.
func parseRecord(d []byte, off int) (fileRecord, error) {
	pos := off
	n, err := parseHeader(d, &pos, '*')
	if err != nil {
		return fileRecord{}, err
	}
	if n != 2 && n != 3 {
		return fileRecord{}, fmt.Errorf("record has %d elements, want 2 (del) or 3 (set)", n)
	}
	var partsBuf [3]string
	parts := partsBuf[:0]
	for i := 0; i < n; i++ {
		l, err := parseHeader(d, &pos, '$')
		if err != nil {
			return fileRecord{}, err
		}
		if len(d)-pos < l+2 {
			// The bytes that are here must still look like the start of the string.
			return fileRecord{}, errIncomplete
		}
		if d[pos+l] != '\r' || d[pos+l+1] != '\n' {
			return fileRecord{}, fmt.Errorf("string of length %d is not followed by CRLF", l)
		}
		// The strings alias d: the scanner's records never outlive the file's bytes.
		parts = append(parts, unsafe.String(unsafe.SliceData(d[pos:]), l))
		pos += l + 2
	}
	r := fileRecord{off: off, end: pos}
	switch {
	case n == 3 && parts[0] == "set":
		r.key, r.val = parts[1], parts[2]
	case n == 2 && parts[0] == "del":
		r.del, r.key = true, parts[1]
	default:
		return fileRecord{}, fmt.Errorf("unexpected command %q with %d elements", printableKey(parts[0]), n)
	}
	return r, nil
}

// parseHeader reads "<c><digits>\r\n" at *pos.
func parseHeader(d []byte, pos *int, c byte) (int, error) {
	p := *pos
	if p >= len(d) {
		return 0, errIncomplete
	}
	if d[p] != c {
		return 0, fmt.Errorf("byte 0x%02x where %q was expected", d[p], c)
	}
	p++
	start := p
	for p < len(d) && d[p] >= '0' && d[p] <= '9' {
		p++
		if p-start > 10 {
			return 0, errors.New("length prefix has more than 10 digits")
		}
	}
	if p == len(d) {
		return 0, errIncomplete
	}
	if p == start {
		return 0, fmt.Errorf("byte 0x%02x where a digit was expected", d[p])
	}
	if d[p] != '\r' {
		return 0, fmt.Errorf("byte 0x%02x where CR was expected", d[p])
	}
	if p+1 == len(d) {
		return 0, errIncomplete
	}
	if d[p+1] != '\n' {
		return 0, fmt.Errorf("byte 0x%02x where LF was expected", d[p+1])
	}
	v, err := strconv.Atoi(string(d[start:p]))
	if err != nil || v > 1<<31 {
		return 0, fmt.Errorf("length %q out of range", d[start:p])
	}
	*pos = p + 2
	return v, nil
}

// scanResult is what the scanner found in one box file.
type scanResult struct {
	data         []byte // the bytes scanned, when openBox found them torn or damaged
	size         int    // file size
	goodEnd      int    // end offset of the last whole, verified transaction
	lastSeq      uint64 // sequence number of that transaction, 0 if none
	high         uint64 // high-water mark of that transaction's marker
	transactions int    // whole transactions before goodEnd
	markEnd      int    // end offset of the transaction scanBoxMark was asked about
	records      int    // records in them, markers excluded

	// torn is set when the bytes after goodEnd are the start of a single
	// transaction that was never completely written.
	torn bool
	// tornRecords counts the complete records in the torn transaction.
	tornRecords int
	// holed is set when the torn tail has a block that was never written
	// (zeros with written bytes after them); holeAt is where the first is.
	holed  bool
	holeAt int
	// damage describes the first damage that is not a torn tail.
	damage *CorruptionError
}

// scanBox checks the framing of a box file with the box's keys.
//
// A torn last transaction may be followed by zeros: after a power cut some
// file systems (XFS, ext4 data=writeback) have advanced the file's size
// over blocks that were never written. When the file ends in zeros and the
// bytes before them scan as whole transactions plus at most a torn one, the
// zeros are part of the torn tail (as RocksDB's tolerate-corrupted-tail
// treats them). A complete transaction never ends in a zero byte (its last
// record ends in CRLF), so no whole transaction is lost that way; the
// checkpoint catches zeros written over durable ones.
//
// Zeros followed by other bytes are a torn tail only when they are a block
// that was never written: after a power cut, the writes since the last
// fsync may reach the disk in any order, a 512-byte sector at a time, and
// a sector that never did reads as zeros. See holeAt for what counts as
// such a block. An fsync makes every earlier write durable, so nothing
// after a hole was ever acknowledged: the tail is cut back to the last
// whole transaction before it, with every byte after it (the checkpoint
// still refuses a cut below its length). Any other damage, zeros that are
// not such a block included, is refused.
func scanBox(box string, d []byte, keys *sealer) scanResult {
	return scanBoxMark(box, d, keys, 0)
}

// scanBoxMark is scanBox that also notes where transaction mark ends
// (scanResult.markEnd), to compare with the box's checkpoint.
func scanBoxMark(box string, d []byte, keys *sealer, mark uint64) scanResult {
	res := scanFraming(box, d, keys, mark)
	if res.damage == nil {
		return res
	}
	z := len(d)
	for z > 0 && d[z-1] == 0 {
		z--
	}
	if z < len(d) {
		if cut := scanFraming(box, d[:z], keys, mark); cut.damage == nil {
			cut.size, cut.torn = len(d), true
			return cut
		}
	}
	if h := holeAt(d, res.goodEnd); h >= 0 {
		// The bytes before the hole must be whole transactions plus at most
		// a torn one, ending where the whole scan's whole transactions end.
		if cut := scanFraming(box, d[:h], keys, mark); cut.damage == nil && cut.goodEnd == res.goodEnd {
			cut.size, cut.torn, cut.holed, cut.holeAt = len(d), true, true, h
			return cut
		}
	}
	return res
}

// sectorSize is the unit in which a power cut can leave a file's unsynced
// writes unwritten (zeros), as the fault file system models it.
const sectorSize = 512

// holeAt returns the offset of the first block at or after from that was
// never written, or -1. Such a block is a run of zeros that starts at from
// (the start of a write: the first transaction not yet whole) or at a sector
// boundary, and reaches the next sector boundary, the end of the file, or
// the start of a record (the next write). Zeros anywhere else, such as a
// run in the middle of a sector followed by more bytes of it, are not a
// hole: they are damage.
func holeAt(d []byte, from int) int {
	for h := from; h < len(d); {
		if d[h] == 0 {
			e := h
			for e < len(d) && d[e] == 0 && (e == h || e%sectorSize != 0) {
				e++
			}
			if e == len(d) || e%sectorSize == 0 || d[e] == '*' {
				return h
			}
		}
		h = (h/sectorSize + 1) * sectorSize
	}
	return -1
}

// scanFraming is scanBox without the zero-tail rule.
func scanFraming(box string, d []byte, keys *sealer, mark uint64) scanResult {
	res := scanResult{size: len(d)}
	macs := map[uint32]hash.Hash{}
	var (
		group      []fileRecord
		mk         *marker
		mkVal      string
		mkMAC      hash.Hash
		groupStart int
		pos        int
	)
	fail := func(off int, format string, args ...any) scanResult {
		res.damage = &CorruptionError{Box: box, Offset: int64(off), Reason: fmt.Sprintf(format, args...)}
		return res
	}
	for pos < len(d) {
		rec, err := parseRecord(d, pos)
		if errors.Is(err, errIncomplete) {
			return checkTail(box, d, groupStart, res, keys)
		}
		if err != nil {
			return fail(pos, "%v", err)
		}
		group = append(group, rec)
		pos = rec.end
		if rec.key != markerKey && isMarkerValue(rec.val, keys, macs) {
			// A marker is known by its authenticated header, whatever its
			// key says: a flipped bit in the key must not turn a complete
			// transaction into a torn one.
			return fail(rec.off, "a transaction marker is stored under the damaged key %q", printableKey(rec.key))
		}
		if rec.key == markerKey {
			if mk != nil {
				return fail(rec.off, "transaction at offset %d has two markers", groupStart)
			}
			m, mac, err := parseMarker(rec.val, keys, macs)
			if err != nil {
				return fail(rec.off, "transaction marker: %v", err)
			}
			mk, mkVal, mkMAC = &m, rec.val, mac
		}
		if mk == nil || len(group) < int(mk.count) {
			continue
		}
		recs := make([]txRecord, 0, len(group)-1)
		for _, r := range group {
			if r.key != markerKey {
				recs = append(recs, r.txRecord)
			}
		}
		switch {
		case uint64(pos-groupStart) != mk.length:
			return fail(groupStart, "transaction %d spans %d bytes, its marker says %d", mk.seq, pos-groupStart, mk.length)
		case !verifyMarker(mkVal, mkMAC, box, recs):
			return fail(groupStart, "transaction %d does not match its digest (a flipped bit or an altered record)", mk.seq)
		case res.lastSeq == 0 && mk.seq != 1:
			// Every file starts at 1 (files only grow, and rewrites start
			// afresh), so this is an old transaction's bytes written over
			// the start of the file.
			return fail(groupStart, "the file starts with transaction %d, not 1: its first transactions are missing", mk.seq)
		case mk.seq != res.lastSeq+1:
			return fail(groupStart, "transaction %d follows transaction %d: transactions are missing", mk.seq, res.lastSeq)
		}
		if mk.seq == mark {
			res.markEnd = pos
		}
		res.lastSeq = mk.seq
		res.high = mk.high
		res.transactions++
		res.records += len(recs)
		res.goodEnd = pos
		group, mk, groupStart = group[:0], nil, pos
	}
	if len(group) > 0 {
		return checkTail(box, d, groupStart, res, keys)
	}
	return res
}

// maybeMarker is the cheap test that v could be a marker value: the right
// length, the marker version and a key id the box has. Sealed records share
// the version byte and key id, so parseMarker's header tag decides.
func maybeMarker(v []byte, keys *sealer) bool {
	if len(v) != markerLen || v[0] != markerVersion {
		return false
	}
	_, ok := keys.macKeys[binary.BigEndian.Uint32(v[1:5])]
	return ok
}

// isMarkerValue reports whether v, a record's value, is an authentic marker.
func isMarkerValue(v string, keys *sealer, macs map[uint32]hash.Hash) bool {
	if len(v) != markerLen || v[0] != markerVersion {
		return false
	}
	if _, ok := keys.macKeys[binary.BigEndian.Uint32([]byte(v[1:5]))]; !ok {
		return false
	}
	_, _, err := parseMarker(v, keys, macs)
	return err == nil
}

// checkTail decides whether the bytes from start to the end of d are a torn
// write of one transaction. They are not when they hold a marker that
// belongs to a later transaction, or a marker whose transaction fits in
// them: then whole, acknowledged transactions sit behind the damage.
func checkTail(box string, d []byte, start int, res scanResult, keys *sealer) scanResult {
	tail := d[start:]
	// Look for marker values by their authenticated header alone, at any
	// offset, so a marker whose key, length prefix or record header was
	// damaged is still found.
	macs := map[uint32]hash.Hash{}
	for at := range max(len(tail)-markerLen+1, 0) {
		if !maybeMarker(tail[at:at+markerLen], keys) {
			continue
		}
		m, _, err := parseMarker(string(tail[at:at+markerLen]), keys, macs)
		if err != nil {
			continue
		}
		if m.seq != res.lastSeq+1 {
			res.damage = &CorruptionError{Box: box, Offset: int64(start), Reason: fmt.Sprintf("unreadable bytes are followed by transaction %d: acknowledged data sits behind the damage", m.seq)}
			return res
		}
		if m.length <= uint64(len(tail)) {
			res.damage = &CorruptionError{Box: box, Offset: int64(start), Reason: fmt.Sprintf("transaction %d is all present but unreadable (a changed length or a damaged record)", m.seq)}
			return res
		}
	}
	res.torn = true
	for pos := start; pos < len(d); {
		rec, err := parseRecord(d, pos)
		if err != nil {
			break
		}
		if rec.key != markerKey {
			res.tornRecords++
		}
		pos = rec.end
	}
	return res
}

// salvaged is what the skip-damaged recovery keeps of a damaged file.
type salvaged struct {
	state        map[string]string // key -> sealed value after replaying the whole transactions
	high         uint64
	lastSeq      uint64 // sequence number of the last transaction kept
	kept         int    // whole transactions kept
	droppedBytes int    // bytes in the damaged regions
	regions      int    // damaged regions skipped
}

// salvage replays every whole, verified transaction of d in file order and
// skips the damaged regions between them. After damage it resumes at the
// next offset where a whole transaction verifies.
func salvage(box string, d []byte, keys *sealer) salvaged {
	out := salvaged{state: map[string]string{}}
	for pos := 0; pos < len(d); {
		recs, end, m, ok := tryGroup(box, d, pos, keys)
		if ok && m.seq <= out.lastSeq {
			ok = false // an old transaction's bytes again (a misdirected write): never replay it
		}
		if ok {
			out.lastSeq = m.seq
			for _, r := range recs {
				if r.del {
					delete(out.state, r.key)
				} else {
					out.state[r.key] = r.val
				}
			}
			out.high = max(out.high, m.high)
			out.kept++
			pos = end
			continue
		}
		// Damage: find the next record start where a whole transaction verifies.
		next := len(d)
		for p := pos + 1; p < len(d); p++ {
			if d[p] != '*' || (d[p-1] != '\n') {
				continue
			}
			if _, _, m, ok := tryGroup(box, d, p, keys); ok && m.seq > out.lastSeq {
				next = p
				break
			}
		}
		out.droppedBytes += next - pos
		out.regions++
		pos = next
	}
	return out
}

// tryGroup parses one transaction starting at pos and verifies it.
func tryGroup(box string, d []byte, pos int, keys *sealer) ([]txRecord, int, marker, bool) {
	var (
		recs  []txRecord
		mk    *marker
		mkVal string
		mkMAC hash.Hash
		n     int
	)
	for pos < len(d) {
		rec, err := parseRecord(d, pos)
		if err != nil {
			return nil, 0, marker{}, false
		}
		pos = rec.end
		n++
		if rec.key == markerKey {
			if mk != nil {
				return nil, 0, marker{}, false
			}
			m, mac, err := parseMarker(rec.val, keys, map[uint32]hash.Hash{})
			if err != nil {
				return nil, 0, marker{}, false
			}
			mk, mkVal, mkMAC = &m, rec.val, mac
		} else {
			recs = append(recs, rec.txRecord)
		}
		if mk != nil && n == int(mk.count) {
			if !verifyMarker(mkVal, mkMAC, box, recs) {
				return nil, 0, marker{}, false
			}
			return recs, pos, *mk, true
		}
		if mk != nil && n > int(mk.count) {
			return nil, 0, marker{}, false
		}
	}
	return nil, 0, marker{}, false
}

// maxDroppedKeys caps how many dropped record keys a repair lists.
const maxDroppedKeys = 1000

// droppedKeys lists the keys of the records that can still be parsed in
// d[from:], skipping unparsable bytes, so a repair can say which records it
// dropped. Markers are left out; the list stops at maxDroppedKeys.
func droppedKeys(d []byte, from int) []string {
	var keys []string
	for pos := from; pos < len(d) && len(keys) < maxDroppedKeys; {
		rec, err := parseRecord(d, pos)
		if err != nil {
			next := bytes.Index(d[pos+1:], []byte("\n*"))
			if next < 0 {
				break
			}
			pos += 1 + next + 1
			continue
		}
		if rec.key != markerKey {
			keys = append(keys, printableKey(strings.Clone(rec.key)))
		}
		pos = rec.end
	}
	return keys
}

// markerScratch holds the buffers a box reuses to build its markers; the
// box's write lock guards it.
type markerScratch struct {
	buf []byte
	sum []byte
}

// encodeMarker is marker.encode without the per-call buffers: the commit
// path builds one marker per transaction, and those allocations were a
// tenth of a queue cycle's.
func encodeMarker(sc *markerScratch, m marker, mac hash.Hash, box string, recs []txRecord) string {
	if !slices.IsSortedFunc(recs, cmpRecords) {
		recs = slices.Clone(recs)
		slices.SortFunc(recs, cmpRecords)
	}
	var hdr [markerHeaderLen]byte
	h := hdr[:0]
	h = append(h, markerVersion)
	h = binary.BigEndian.AppendUint32(h, m.keyID)
	h = binary.BigEndian.AppendUint64(h, m.seq)
	h = binary.BigEndian.AppendUint32(h, m.count)
	h = binary.BigEndian.AppendUint64(h, m.length)
	h = binary.BigEndian.AppendUint64(h, m.high)

	buf := append(sc.buf[:0], "boxstorm/txn-header/v1\x00"...)
	buf = append(buf, box...)
	buf = append(buf, 0)
	buf = append(buf, h...)
	mac.Reset()
	mac.Write(buf)
	sc.sum = mac.Sum(sc.sum[:0])
	var out [markerLen]byte
	copy(out[:], h)
	copy(out[markerHeaderLen:], sc.sum[:8])

	buf = appendTagInput(buf[:0], box, out[:markerHeaderLen+8], recs)
	mac.Reset()
	mac.Write(buf)
	sc.sum = mac.Sum(sc.sum[:0])
	copy(out[markerHeaderLen+8:], sc.sum[:16])
	if cap(buf) <= 64<<10 {
		sc.buf = buf // a large transaction's buffer is not kept
	}
	return string(out[:])
}
