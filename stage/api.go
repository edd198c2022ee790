package stage

// APIVersion is the version of the stage contract (Transformer and the
// optional interfaces, Record, Config) that this engine offers to plugins, a
// semantic version: a plugin built against API x.y runs on a host with API
// x.z for z >= y. `pipe version` prints it; plugin manifests state the range
// they support, and a Go plugin (.so) exports the version it was built
// against (see stages/native).
//
// 2.0.0: the contract moved from package engine to this package; a Go
// plugin's New takes a stage.Config (an interface) instead of an
// engine.Config, so plugins built against 1.x must be rebuilt.
// 2.1.0: Retainer, an optional interface for stages that hold records
// across calls (windows), so their sources are acknowledged only once what
// they hold has been emitted.
const APIVersion = "2.1.0"
