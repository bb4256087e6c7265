package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/boxstorm/boxstorm/internal/failpoint"
	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

// helperMain runs in a child process started by a test; it returns the
// process exit code.
func helperMain(mode string) int {
	ctx := context.Background()
	dir := os.Getenv("BOXSTORM_STORE_DIR")
	// The test binary arms a failpoint itself, as the chaos worker does: the
	// store reads no environment variable for it.
	if spec := os.Getenv("BOXSTORM_STORE_FAILPOINT"); spec != "" {
		name, after, err := failpoint.Parse(spec)
		if err == nil {
			err = failpoint.Arm(name, after)
		}
		if err != nil {
			fmt.Println(err)
			return 2
		}
	}
	if mode == "recover" {
		// The armed failpoint kills this process somewhere inside.
		s, _, err := store.RecoverCorrupted(ctx, dir, os.Getenv("BOXSTORM_STORE_BACKUP"), testutil.Options())
		if err != nil {
			fmt.Println("recover:", err)
			return 1
		}
		s.Close()
		fmt.Println("recovered")
		return 0
	}
	s, err := store.Open(ctx, dir, testutil.Options())
	if err != nil {
		fmt.Println(err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	switch mode {
	case "open":
		fmt.Println("opened")
		return 0
	case "rotate":
		// The armed failpoint kills this process somewhere inside.
		if _, err := s.RotateKey(ctx, store.KeyBytes(testutil.OtherKey)); err != nil {
			fmt.Println("rotate:", err)
			return 1
		}
		fmt.Println("rotated")
		return 0
	case "enqueue-loop":
		// Print each op only after Enqueue returned: the parent checks that
		// every printed op survives a SIGKILL.
		for i := 0; ; i++ {
			op, err := s.Enqueue(ctx, []byte("payload-"+strconv.Itoa(i)), store.EnqueueOptions{IdempotencyKey: "k" + strconv.Itoa(i)})
			if err != nil {
				fmt.Fprintln(out, "error", err)
				out.Flush()
				return 1
			}
			fmt.Fprintln(out, "acked", op.ID, op.Seq)
			out.Flush()
		}
	}
	fmt.Println("unknown helper mode", mode)
	return 2
}

// swapValues swaps the sealed values of two records of equal size in a box file.
func swapValues(t *testing.T, data []byte, k1, k2 string) []byte {
	t.Helper()
	find := func(k string) (int, int) {
		needle := []byte("$" + strconv.Itoa(len(k)) + "\r\n" + k + "\r\n$")
		i := bytes.Index(data, needle)
		if i < 0 {
			t.Fatalf("record %q not found", k)
		}
		start := i + len(needle)
		j := bytes.Index(data[start:], []byte("\r\n"))
		n, err := strconv.Atoi(string(data[start : start+j]))
		if err != nil {
			t.Fatal(err)
		}
		return start + j + 2, n
	}
	a, na := find(k1)
	b, nb := find(k2)
	if na != nb {
		t.Fatalf("values differ in size: %d, %d", na, nb)
	}
	out := bytes.Clone(data)
	copy(out[a:a+na], data[b:b+nb])
	copy(out[b:b+nb], data[a:a+na])
	return out
}
