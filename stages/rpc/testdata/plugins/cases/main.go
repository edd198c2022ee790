// Command cases is an rpc plugin whose first argument picks a behaviour: the
// cases of the conformance suite (engine/enginetest) and misbehaving plugins
// for the supervision and bad-input tests.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/tidwall/sjson"
	"google.golang.org/grpc"

	"github.com/pipe-dev/pipe/stage"
	rpcpb "github.com/pipe-dev/pipe/stages/rpc/proto"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

type fn = stage.TransformerFunc

func serve(f fn) { rpcplugin.Serve(f) }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cases MODE")
		os.Exit(2)
	}
	switch os.Args[1] {
	// Conformance cases.
	case "identity":
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error { emit(r); return nil })
	case "upper":
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			r.Data = bytes.ToUpper(r.Data)
			emit(r)
			return nil
		})
	case "drop":
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if !bytes.HasPrefix(r.Data, []byte("#")) {
				emit(r)
			}
			return nil
		})
	case "split":
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			for part := range bytes.SplitSeq(r.Data, []byte(",")) {
				emit(r.Derive(part))
			}
			return nil
		})
	case "deadline": // answers how long its call's deadline leaves (ns), or "none"
		serve(func(ctx context.Context, r *stage.Record, emit func(*stage.Record)) error {
			r.Data = []byte("none")
			if d, ok := ctx.Deadline(); ok {
				r.Data = strconv.AppendInt(nil, int64(time.Until(d)), 10)
			}
			emit(r)
			return nil
		})
	case "spin": // busy for os.Args[2] (default 90µs) per record, honouring nothing
		per := 90 * time.Microsecond
		if len(os.Args) > 2 {
			per, _ = time.ParseDuration(os.Args[2])
		}
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			for end := time.Now().Add(per); time.Now().Before(end); {
			}
			emit(r)
			return nil
		})
	case "meta":
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			r.Set("out", r.Get("in")+"!")
			r.Delete("gone")
			emit(r)
			return nil
		})
	case "fail":
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if string(r.Data) == "bad" {
				return errors.New("bad record")
			}
			emit(r)
			return nil
		})
	case "init":
		rpcplugin.ServeFunc(func(cfg stage.Config) (stage.Transformer, error) {
			var c struct {
				Prefix string `yaml:"prefix"`
			}
			if err := cfg.Decode(&c); err != nil {
				return nil, err
			}
			return fn(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
				r.Data = append([]byte(c.Prefix), r.Data...)
				emit(r)
				return nil
			}), nil
		})
	case "flush":
		rpcplugin.Serve(&counter{})
	case "hang", "slowhang": // slowhang takes os.Args[2] (default 300ms) to start
		if os.Args[1] == "slowhang" {
			d := 300 * time.Millisecond
			if len(os.Args) > 2 {
				d, _ = time.ParseDuration(os.Args[2])
			}
			time.Sleep(d)
		}
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if string(r.Data) == "hang" {
				for {
					// An endless loop that honours nothing: the host
					// must kill the process.
				}
			}
			emit(r)
			return nil
		})
	case "json":
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			out, err := sjson.SetBytes(r.Data, "seen", true)
			if err != nil {
				return err
			}
			r.Data = out
			emit(r)
			return nil
		})

	// Supervision.
	case "boom": // crashes the process on the record "boom", every time
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if string(r.Data) == "boom" {
				fmt.Fprintln(os.Stderr, "about to crash on boom")
				time.Sleep(20 * time.Millisecond) // let the line reach the host
				os.Exit(3)
			}
			emit(r)
			return nil
		})
	case "pid": // writes its pid to os.Args[2]; slow identity (for kill -9 tests)
		if err := os.WriteFile(os.Args[2]+".tmp", []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			panic(err)
		}
		if err := os.Rename(os.Args[2]+".tmp", os.Args[2]); err != nil {
			panic(err)
		}
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			time.Sleep(20 * time.Microsecond)
			emit(r)
			return nil
		})
	case "stop": // stops itself (SIGSTOP) on the record "stop": it then answers nothing
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if string(r.Data) == "stop" {
				if _, err := os.Stat(os.Args[2]); err != nil {
					os.WriteFile(os.Args[2], nil, 0o644)
					syscall.Kill(os.Getpid(), syscall.SIGSTOP)
				}
			}
			emit(r)
			return nil
		})
	case "once": // starts once (marker file os.Args[2]); crashes on "boom"
		if _, err := os.Stat(os.Args[2]); err == nil {
			fmt.Fprintln(os.Stderr, "refusing to start again: database is locked")
			os.Exit(1)
		}
		os.WriteFile(os.Args[2], nil, 0o644)
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			if string(r.Data) == "boom" {
				os.Exit(3)
			}
			emit(r)
			return nil
		})
	case "strict": // rejects a config without a positive integer n
		rpcplugin.ServeFunc(func(cfg stage.Config) (stage.Transformer, error) {
			var c struct {
				N int `yaml:"n"`
			}
			if err := cfg.Decode(&c); err != nil {
				return nil, err
			}
			if c.N <= 0 {
				return nil, errors.New("n must be a positive integer")
			}
			return fn(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error { emit(r); return nil }), nil
		})
	case "log": // logs every record to stderr
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			fmt.Fprintf(os.Stderr, "saw %s\n", r.Data)
			emit(r)
			return nil
		})

	// Bad plugins.
	case "crashstart":
		fmt.Fprintln(os.Stderr, "cannot start: license file missing")
		os.Exit(1)
	case "nothing":
		os.Exit(0)
	case "hangstart":
		time.Sleep(time.Hour)
	case "garbage":
		fmt.Println("hello, I am not a plugin")
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error { emit(r); return nil })
	case "emptyline":
		fmt.Println()
		serve(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error { emit(r); return nil })
	case "wrongcookie":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "OTHER_APP_PLUGIN", MagicCookieValue: "x"},
			Plugins:         plugin.PluginSet{},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
	case "wrongproto":
		fmt.Println("1|99|unix|/tmp/nothing-here.sock|grpc")
		time.Sleep(time.Hour)
	case "wrongcount": // answers one result too few
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: rpcplugin.Handshake,
			Plugins:         plugin.PluginSet{rpcplugin.PluginName: &shortPlugin{}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

type counter struct{ n int }

func (c *counter) Transform(context.Context, *stage.Record, func(*stage.Record)) error {
	c.n++
	return nil
}

func (c *counter) Flush(_ context.Context, emit func(*stage.Record)) error {
	emit(stage.NewRecord(fmt.Appendf(nil, "count=%d", c.n)))
	return nil
}

// shortPlugin serves a Transformer that drops the last result of each batch.
type shortPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (shortPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	rpcpb.RegisterTransformerServer(s, short{})
	return nil
}

func (shortPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server only")
}

type short struct {
	rpcpb.UnimplementedTransformerServer
}

func (short) Open(context.Context, *rpcpb.OpenRequest) (*rpcpb.OpenResponse, error) {
	return &rpcpb.OpenResponse{}, nil
}

func (short) TransformBatch(_ context.Context, req *rpcpb.BatchRequest) (*rpcpb.BatchResponse, error) {
	resp := &rpcpb.BatchResponse{}
	for _, r := range req.Records[:len(req.Records)-1] {
		resp.Results = append(resp.Results, &rpcpb.Result{Records: []*rpcpb.Record{r}})
	}
	return resp, nil
}
