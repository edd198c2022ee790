package rpc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// TestSplitLargeBatch: a batch above SplitBytes goes out in several calls
// and comes back as one result per record, in order.
func TestSplitLargeBatch(t *testing.T) {
	dir := os.Getenv("RPC_TEST_PLUGIN_DIR")
	if dir == "" {
		t.Fatal("TestMain did not build the plugins")
	}
	spec := &engine.StageSpec{Name: "split", Type: "rpc", Path: filepath.Join(dir, "cases"),
		Extra: engine.ConfigOf(map[string]any{"args": []string{"upper"}})}
	st, err := build(spec, &engine.BuildEnv{Codec: "lines"})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*stage)
	defer s.Close()
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	in := s.instance()
	defer in.Close()
	recs := make([]*engine.Record, 40)
	for i := range recs {
		recs[i] = engine.NewRecord(bytes.Repeat([]byte{byte('a' + i%26)}, 200<<10))
	}
	results, err := in.exchange(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(recs) {
		t.Fatalf("%d results for %d records", len(results), len(recs))
	}
	for i, r := range results {
		want := bytes.Repeat([]byte{byte('A' + i%26)}, 200<<10)
		if len(r.Records) != 1 || !bytes.Equal(r.Records[0].Data, want) {
			t.Fatalf("result %d is not record %d upper-cased", i, i)
		}
	}
	if in.calls < 3 {
		t.Errorf("8 MB went out in %d calls, want it split at %d bytes", in.calls, SplitBytes)
	}
}
