package engine

import "github.com/pipe-dev/pipe/stage"

// APIVersion is stage.APIVersion, the version of the stage contract this
// engine offers to plugins.
const APIVersion = stage.APIVersion

// Config implements stage.Config: a Go plugin (.so) and a compiled-in
// transformer may be handed the same value.
var _ stage.Config = Config{}
