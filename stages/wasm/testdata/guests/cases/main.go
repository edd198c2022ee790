// Command cases is a wasm guest whose config key "case" picks a behaviour:
// the cases of the conformance suite (engine/enginetest) and misbehaving
// guests for the bad-input tests. A config with "prefix" and no "case" is
// the init case.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/pipe-dev/pipe/stages/wasm/guest"
)

var (
	mode   string
	prefix string
	seen   int
	hoard  [][]byte
	sink   []byte
)

func init() {
	guest.Init(func(config []byte) error {
		var c struct {
			Case   string `json:"case"`
			Prefix string `json:"prefix"`
		}
		if err := json.Unmarshal(config, &c); err != nil {
			return err
		}
		mode, prefix = c.Case, c.Prefix
		if mode == "" && prefix != "" {
			mode = "init"
		}
		if mode == "reject" {
			return errors.New("case reject: this config is refused")
		}
		guest.Log(guest.LevelInfo, "cases guest ready: "+mode)
		return nil
	})
	guest.Transform(transform)
	guest.Flush(func() ([][]byte, error) {
		if mode != "flush" {
			return nil, nil
		}
		return [][]byte{[]byte("count=" + strconv.Itoa(seen))}, nil
	})
}

func one(b []byte) [][]byte { return [][]byte{b} }

func transform(rec []byte, meta guest.Meta) ([][]byte, error) {
	switch mode {
	case "identity":
		return one(rec), nil
	case "upper":
		return one(bytes.ToUpper(rec)), nil
	case "drop":
		if bytes.HasPrefix(rec, []byte("#")) {
			return nil, nil
		}
		return one(rec), nil
	case "split":
		return bytes.Split(rec, []byte(",")), nil
	case "meta":
		meta["out"] = meta["in"] + "!"
		delete(meta, "gone")
		return one(rec), nil
	case "fail":
		if string(rec) == "bad" {
			return nil, errors.New("bad record")
		}
		return one(rec), nil
	case "init":
		return one(append([]byte(prefix), rec...)), nil
	case "flush":
		seen++
		return nil, nil
	case "hang":
		if string(rec) == "hang" {
			n := 0
			for {
				n++ // an endless loop that honours nothing
			}
		}
		return one(rec), nil
	case "json":
		var v map[string]any
		if err := json.Unmarshal(rec, &v); err != nil {
			return nil, err
		}
		v["seen"] = true
		b, err := json.Marshal(v)
		return one(b), err
	// Misbehaving guests, for the bad-input tests.
	case "panic":
		if string(rec) == "boom" {
			panic("boom record")
		}
		return one(rec), nil
	case "alloc":
		// Keeps 1 MiB per "big" record: past memory_limit the Go
		// runtime dies (out of memory).
		if string(rec) == "big" {
			for range 256 {
				hoard = append(hoard, make([]byte, 1<<20))
			}
		}
		return one(rec), nil
	case "garbage":
		// 64 KiB of garbage per record: fine as long as the Go
		// runtime's collector keeps up.
		sink = make([]byte, 64<<10)
		return one(rec), nil
	case "write":
		// There is no preopened directory: the write is denied.
		if !bytes.HasPrefix(rec, []byte("/")) {
			return one(rec), nil
		}
		if err := os.WriteFile(string(rec), []byte("escaped"), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", rec, err)
		}
		return one(rec), nil
	case "print":
		fmt.Println("stdout says", string(rec))
		fmt.Fprintln(os.Stderr, "stderr says", string(rec))
		return one(rec), nil
	}
	return nil, fmt.Errorf("unknown case %q", mode)
}

func main() {}
