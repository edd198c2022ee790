package rpcplugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pipe-dev/pipe/stage"
	rpcpb "github.com/pipe-dev/pipe/stages/rpc/proto"
)

// Serve runs t as an rpc plugin: call it from the plugin's main function.
// It speaks the go-plugin handshake on stdout and serves the Transformer
// service until the host closes the plugin; it does not return.
//
// t may also implement stage.Opener, stage.Flusher and stage.Closer. The
// host never calls the plugin concurrently (one process per worker). A
// panic in Transform fails that record (the message starts with "panic:")
// instead of crashing the process. Writes to os.Stderr and os.Stdout
// after Serve began reach the host's log, with the stage's name.
func Serve(t stage.Transformer) {
	ServeFunc(func(stage.Config) (stage.Transformer, error) { return t, nil })
}

// ServeFunc runs an rpc plugin whose transformer fn builds from the stage's
// config: mapping (a Config; the same constructor type as a Go plugin's New,
// so one Go transformer can be compiled in, loaded as a .so or served as an
// rpc plugin). fn is called once per Open, that is once per process and
// again after each restart. An error from fn is reported to the user as a
// configuration error of the stage.
func ServeFunc(fn func(stage.Config) (stage.Transformer, error)) {
	go exitWithParent(os.Getppid(), time.Second)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &grpcPlugin{srv: &server{newT: fn}}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
}

// exitWithParent ends the plugin when the process that started it is gone
// (its parent changes: the host died, even by kill -9, and the plugin was
// handed to init), checking every interval: a plugin never outlives its
// host. On Linux the host also asks the kernel to kill the plugin then
// (PR_SET_PDEATHSIG); this covers plugins started through a wrapper and
// other systems.
func exitWithParent(ppid int, interval time.Duration) {
	if ppid <= 1 {
		return // started by init: there is no host to watch
	}
	for {
		time.Sleep(interval)
		if os.Getppid() != ppid {
			fmt.Fprintln(os.Stderr, "rpcplugin: the host process is gone; exiting")
			os.Exit(1)
		}
	}
}

// server implements the Transformer service around one stage.Transformer.
type server struct {
	rpcpb.UnimplementedTransformerServer
	newT func(stage.Config) (stage.Transformer, error)

	mu sync.Mutex
	t  stage.Transformer
}

func (s *server) Open(ctx context.Context, req *rpcpb.OpenRequest) (*rpcpb.OpenResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := ParseConfig(req.ConfigJson)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	t, err := s.build(cfg)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if o, ok := t.(stage.Opener); ok {
		if err := o.Open(ctx); err != nil {
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
	}
	s.t = t
	return &rpcpb.OpenResponse{}, nil
}

// build calls the plugin's constructor; a panic or a nil transformer is an
// error.
func (s *server) build(cfg Config) (t stage.Transformer, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("panic in the constructor: %v", p)
		}
	}()
	t, err = s.newT(cfg)
	if err == nil && t == nil {
		err = errors.New("the constructor returned no transformer and no error")
	}
	return t, err
}

// transformer returns the opened transformer (one made from an empty config
// if the host did not call Open).
func (s *server) transformer() (stage.Transformer, error) {
	if s.t == nil {
		t, err := s.build(Config{})
		if err != nil {
			return nil, status.Error(codes.FailedPrecondition, "not opened: "+err.Error())
		}
		s.t = t
	}
	return s.t, nil
}

func toPB(o *stage.Record, in *stage.Record) *rpcpb.Record {
	r := &rpcpb.Record{Data: o.Data}
	if o.Meta != nil || o == in {
		// The input record itself carries its whole metadata; a new
		// record with nil Meta inherits the input's.
		r.Meta, r.MetaSet = o.Meta, true
	}
	return r
}

func (s *server) TransformBatch(ctx context.Context, req *rpcpb.BatchRequest) (*rpcpb.BatchResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.transformer()
	if err != nil {
		return nil, err
	}
	results := make([]rpcpb.Result, len(req.Records))
	resp := &rpcpb.BatchResponse{Results: make([]*rpcpb.Result, len(req.Records))}
	for i, r := range req.Records {
		res := &results[i]
		resp.Results[i] = res
		rec := &stage.Record{Data: r.Data}
		if r.MetaSet {
			rec.Meta = r.Meta
			if rec.Meta == nil {
				rec.Meta = map[string]string{}
			}
		}
		err := safeTransform(ctx, t, rec, func(o *stage.Record) {
			res.Records = append(res.Records, toPB(o, rec))
		})
		if err != nil {
			res.Records, res.Error = nil, err.Error()
			if res.Error == "" {
				res.Error = "record failed with no error message"
			}
		}
	}
	return resp, nil
}

func safeTransform(ctx context.Context, t stage.Transformer, rec *stage.Record, emit func(*stage.Record)) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return t.Transform(ctx, rec, emit)
}

func (s *server) Flush(ctx context.Context, _ *rpcpb.FlushRequest) (*rpcpb.FlushResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &rpcpb.FlushResponse{}
	f, ok := s.t.(stage.Flusher)
	if !ok {
		return resp, nil
	}
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic in flush: %v", p)
			}
		}()
		return f.Flush(ctx, func(o *stage.Record) { resp.Records = append(resp.Records, toPB(o, nil)) })
	}()
	if err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return resp, nil
}

func (s *server) Close(context.Context, *rpcpb.CloseRequest) (*rpcpb.CloseResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.t.(stage.Closer); ok {
		if err := c.Close(); err != nil {
			return nil, status.Error(codes.Aborted, err.Error())
		}
	}
	s.t = nil
	return &rpcpb.CloseResponse{}, nil
}

// grpcPlugin is the plugin side of the go-plugin glue: it registers the
// Transformer service. (The host's side is in package stages/rpc.)
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	rpcpb.RegisterTransformerServer(s, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("rpcplugin serves the Transformer service; the client is package github.com/pipe-dev/pipe/stages/rpc")
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)
