package rpc

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	rpcpb "github.com/pipe-dev/pipe/stages/rpc/proto"
)

// Handshake is the go-plugin handshake that host and plugins agree on: a
// plugin refuses to run unless the host set the magic cookie in its
// environment, and the host refuses a plugin that announces another
// protocol version. See PROTOCOL.md.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// The handshake's values, for plugins written without this package.
const (
	// ProtocolVersion is the version of the Transformer service (the
	// second field of the handshake line).
	ProtocolVersion = 1
	// MagicCookieKey is the environment variable the host sets...
	MagicCookieKey = "PIPE_RPC_PLUGIN"
	// ...to MagicCookieValue.
	MagicCookieValue = "6d1c2a0e-pipe-transformer-v1"
	// PluginName is the name the Transformer service is dispensed under.
	PluginName = "transformer"
)

// MaxMessageBytes is the largest gRPC message that the host and the Go SDK
// accept (gRPC's default is 4 MiB). The host also splits requests at
// SplitBytes so that plugins keeping gRPC's default limit work.
const (
	MaxMessageBytes = 1 << 30
	SplitBytes      = 3 << 20
)

// grpcPlugin is the go-plugin glue of the Transformer service: the server
// side (the SDK) registers the service, the client side (the host) wraps
// the connection.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server // set in plugins, nil in the host
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	rpcpb.RegisterTransformerServer(s, p.srv)
	return nil
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
