package inputs

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// TxnEnds returns the end offset of every transaction of an undamaged box
// file, from the byte lengths its transaction markers record
// (docs/store-format.md): the offsets where a cut leaves whole transactions.
func TxnEnds(file []byte) []int {
	pattern := []byte("$4\r\n\x00txn\r\n$57\r\n")
	type mk struct{ seq, length uint64 }
	var mks []mk
	for i := 0; ; {
		j := bytes.Index(file[i:], pattern)
		if j < 0 {
			break
		}
		at := i + j + len(pattern)
		if at+57 <= len(file) {
			v := file[at : at+57]
			mks = append(mks, mk{binary.BigEndian.Uint64(v[5:13]), binary.BigEndian.Uint64(v[17:25])})
		}
		i = at
	}
	slices.SortFunc(mks, func(a, b mk) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	ends := make([]int, 0, len(mks))
	end := 0
	for _, m := range mks {
		end += int(m.length)
		ends = append(ends, end)
	}
	return ends
}
