// Package native holds the compiled-in Go transformers of pipe (type: native,
// use: NAME): grep, replace, case, trim, select, set, delete, rename,
// explode, limit, sample, dedupe and count. Importing it registers them in
// engine.DefaultRegistry, and installs LoadPlugin, the loader of Go plugins
// (type: native, path: FILE.so; see README.md, "Go plugins (.so)").
//
// Field-based transformers read and edit JSON records with dotted paths
// (gjson path syntax: "user.name", "tags.0", a literal dot escaped as "\.")
// without decoding the whole record.
package native
