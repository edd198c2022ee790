package rpcplugin

import "github.com/hashicorp/go-plugin"

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
// accept (gRPC's default is 4 MiB).
const MaxMessageBytes = 1 << 30
