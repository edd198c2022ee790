package rpc

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	rpcpb "github.com/pipe-dev/pipe/stages/rpc/proto"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

// Handshake is the go-plugin handshake that host and plugins agree on
// (rpcplugin.Handshake): a plugin refuses to run unless the host set the
// magic cookie in its environment, and the host refuses a plugin that
// announces another protocol version. See PROTOCOL.md.
var Handshake = rpcplugin.Handshake

// The handshake's values, for plugins written without the Go SDK (the
// same as rpcplugin's).
const (
	ProtocolVersion  = rpcplugin.ProtocolVersion
	MagicCookieKey   = rpcplugin.MagicCookieKey
	MagicCookieValue = rpcplugin.MagicCookieValue
	PluginName       = rpcplugin.PluginName
)

// MaxMessageBytes is the largest gRPC message that the host and the Go SDK
// accept (gRPC's default is 4 MiB). The host also splits requests at
// SplitBytes so that plugins keeping gRPC's default limit work.
const (
	MaxMessageBytes = rpcplugin.MaxMessageBytes
	SplitBytes      = 3 << 20
)

// grpcPlugin is the host's side of the go-plugin glue: it wraps the
// connection to a plugin's Transformer service. (The plugin's side is
// package rpcplugin.)
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (p *grpcPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host does not serve the Transformer service; plugins use package rpcplugin")
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &conn{rpc: rpcpb.NewTransformerClient(c), cc: c}, nil
}

// conn is what the host dispenses: the service client and the connection
// (for health checks with a deadline).
type conn struct {
	rpc rpcpb.TransformerClient
	cc  *grpc.ClientConn
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)
