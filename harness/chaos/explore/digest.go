package explore

// A store's logical content, to compare crash states with the states
// before and after the procedure.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

// storeDigest is a store's logical content: box → key → sha256 of the
// plaintext. The audit log is left out: its entries follow a procedure's
// steps in their own commits.
type storeDigest map[string]map[string]string

func (d storeDigest) equal(o storeDigest) bool {
	if len(d) != len(o) {
		return false
	}
	for b, m := range d {
		om, ok := o[b]
		if !ok || len(om) != len(m) {
			return false
		}
		for k, v := range m {
			if om[k] != v {
				return false
			}
		}
	}
	return true
}

// diff describes how d differs from o, briefly.
func (d storeDigest) diff(o storeDigest) string {
	var out []string
	boxes := map[string]bool{}
	for b := range d {
		boxes[b] = true
	}
	for b := range o {
		boxes[b] = true
	}
	for b := range boxes {
		added, removed, changed := 0, 0, 0
		var first string
		for k, v := range d[b] {
			ov, ok := o[b][k]
			switch {
			case !ok:
				added++
			case ov != v:
				changed++
			default:
				continue
			}
			first = min(first, k)
			if first == "" {
				first = k
			}
		}
		for k := range o[b] {
			if _, ok := d[b][k]; !ok {
				removed++
				if first == "" {
					first = k
				}
			}
		}
		if added+removed+changed > 0 {
			out = append(out, fmt.Sprintf("%s +%d -%d ~%d (such as %q)", b, added, removed, changed, first))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// digestOf is b's logical content. In process (target.Local) it is every
// record of every box (digest). Through a target it is what the state
// request reads back: each pending op with its payload and seq, their FIFO
// order, each failed op with its payload and attempts, and the schema
// version, as boxes "pending", "fifo", "failed" and "schema".
func digestOf(ctx context.Context, b target.Backend) (storeDigest, error) {
	if l, ok := b.(target.Local); ok {
		return digest(ctx, l.Store)
	}
	st, err := b.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	d := storeDigest{"pending": {}, "fifo": {}, "failed": {}, "schema": {"version": strconv.Itoa(st.SchemaVersion)}}
	var order []string
	for _, op := range st.Pending {
		d["pending"][op.ID] = fmt.Sprintf("%s seq %d", payloadSum(op.Payload), op.Seq)
		order = append(order, op.ID)
	}
	d["fifo"]["order"] = payloadSum([]byte(strings.Join(order, ",")))
	for _, op := range st.Failed {
		d["failed"][op.ID] = fmt.Sprintf("%s attempts %d", payloadSum(op.Payload), op.Attempts)
	}
	return d, nil
}

// payloadSum is a short digest of a payload.
func payloadSum(p []byte) string {
	sum := sha256.Sum256(p)
	return hex.EncodeToString(sum[:8])
}

// digest reads every record of every box of s.
func digest(ctx context.Context, s *store.Store) (storeDigest, error) {
	names := slices.Clone(store.SystemBoxes())
	ents, err := os.ReadDir(s.Dir())
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".db"); ok && !e.IsDir() && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	d := storeDigest{}
	for _, name := range names {
		if name == store.BoxAudit {
			continue
		}
		recs, err := s.Records(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("box %s: %w", name, err)
		}
		m := map[string]string{}
		for _, rec := range recs {
			sum := sha256.Sum256(rec.Value)
			m[rec.Key] = hex.EncodeToString(sum[:8])
		}
		d[name] = m
	}
	return d, nil
}
