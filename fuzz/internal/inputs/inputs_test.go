package inputs_test

import (
	"archive/tar"
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/boxstorm/boxstorm/fuzz/internal/inputs"
	"github.com/boxstorm/boxstorm/store"
)

func TestBoxDamage_RoundTrip(t *testing.T) {
	for name, d := range map[string]inputs.BoxDamage{
		"empty":    {},
		"truncate": {Mode: store.PointInTime, Damages: []inputs.Damage{{Kind: inputs.Truncate, Off: 7}}},
		"all": {Mode: store.SkipDamaged, Damages: []inputs.Damage{
			{Kind: inputs.FlipBit, Off: 3, Bit: 5},
			{Kind: inputs.InsertGarbage, Off: 9, Data: []byte("junk")},
			{Kind: inputs.NULRun, Off: 1, Len: 40},
			{Kind: inputs.CopyRange, Off: 2, Src: 0, Len: 3},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			got := inputs.DecodeBoxDamage(d.Encode())
			if len(got.Damages) == 0 {
				got.Damages = nil
			}
			if !reflect.DeepEqual(got, d) {
				t.Errorf("round trip: got %+v, want %+v", got, d)
			}
		})
	}
}

func TestBoxDamage_Apply(t *testing.T) {
	file := []byte("0123456789")
	for name, tc := range map[string]struct {
		d    inputs.Damage
		want string
	}{
		"truncate":        {inputs.Damage{Kind: inputs.Truncate, Off: 4}, "0123"},
		"truncate-at-end": {inputs.Damage{Kind: inputs.Truncate, Off: 10}, "0123456789"},
		"flip":            {inputs.Damage{Kind: inputs.FlipBit, Off: 0, Bit: 0}, "1123456789"},
		"insert":          {inputs.Damage{Kind: inputs.InsertGarbage, Off: 2, Data: []byte("xy")}, "01xy23456789"},
		"nul-grows":       {inputs.Damage{Kind: inputs.NULRun, Off: 8, Len: 4}, "01234567\x00\x00\x00\x00"},
		"copy":            {inputs.Damage{Kind: inputs.CopyRange, Off: 10, Src: 0, Len: 3}, "0123456789012"},
	} {
		got := inputs.BoxDamage{Damages: []inputs.Damage{tc.d}}.Apply(file)
		if string(got) != tc.want {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
	if string(file) != "0123456789" {
		t.Errorf("Apply changed its input")
	}
}

func TestProgram_RoundTrip(t *testing.T) {
	p := []inputs.Step{{Op: inputs.OpEnqueue, Arg: 0x81}, {Op: inputs.OpKill}, {Op: inputs.OpAdvance, Arg: 24}}
	if got := inputs.DecodeProgram(inputs.EncodeProgram(p)); !reflect.DeepEqual(got, p) {
		t.Errorf("round trip: got %v, want %v", got, p)
	}
	long := make([]byte, 2*inputs.MaxSteps+10)
	if got := len(inputs.DecodeProgram(long)); got != inputs.MaxSteps {
		t.Errorf("decoded %d steps, want at most %d", got, inputs.MaxSteps)
	}
	restarts := inputs.EncodeProgram([]inputs.Step{{Op: inputs.OpKill}, {Op: inputs.OpReopen}, {Op: inputs.OpEnqueue}, {Op: inputs.OpKill}, {Op: inputs.OpReopen, Arg: 1}, {Op: inputs.OpClaim}})
	want := []inputs.Step{{Op: inputs.OpKill}, {Op: inputs.OpReopen}, {Op: inputs.OpEnqueue}, {Op: inputs.OpClaim}}
	if got := inputs.DecodeProgram(restarts); !reflect.DeepEqual(got, want) {
		t.Errorf("restarts past MaxRestarts: got %v, want %v", got, want)
	}
}

func TestStructured_RoundTrip(t *testing.T) {
	s := inputs.Structured{SchemaVersion: 2, Boxes: []inputs.StructuredBox{
		{Name: store.BoxPending, Records: []inputs.Record{{Key: "op/000000000000000000000001", Value: []byte{1, 2}}, {Key: `k"\`, Value: nil}}},
		{Name: "zz_new_box"},
	}}
	got := inputs.DecodeStructured(s.Encode())
	for i := range got.Boxes {
		for j := range got.Boxes[i].Records {
			if len(got.Boxes[i].Records[j].Value) == 0 {
				got.Boxes[i].Records[j].Value = nil
			}
		}
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip: got %+v, want %+v", got, s)
	}
	// The tar holds the meta first, then the boxes in name order, each
	// dump's lines sorted by key.
	tr := tar.NewReader(bytes.NewReader(s.Tar()))
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if hdr.Name == "boxes/pending_ops.jsonl" {
			body, _ := io.ReadAll(tr)
			want := `{"k":"k\"\\","v":""}` + "\n" + `{"k":"op/000000000000000000000001","v":"AQI="}` + "\n"
			if string(body) != want {
				t.Errorf("dump:\n%s\nwant:\n%s", body, want)
			}
		}
	}
	if want := []string{"backup_meta.json", "boxes/pending_ops.jsonl", "boxes/zz_new_box.jsonl"}; !reflect.DeepEqual(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
}

func TestDecoders_AnyInput(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0xff}, bytes.Repeat([]byte{0xff}, 300), bytes.Repeat([]byte{2, 0, 0, 0, 1, 255}, 50)} {
		_ = inputs.DecodeBoxDamage(b).Apply([]byte("file"))
		_ = inputs.DecodeProgram(b)
		for m := range 6 {
			_ = inputs.DecodeArchive(append([]byte{byte(m), 1}, b...)).Plaintext()
		}
	}
}
