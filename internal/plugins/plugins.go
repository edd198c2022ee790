// Package plugins discovers plugins in plugin directories, resolves
// use: NAME@CONSTRAINT to the highest compatible version, and signs and
// verifies plugins with ed25519.
//
// A plugin is a folder holding a manifest, plugin.yaml, next to its entry
// file:
//
//	name: redact                 # letters, digits, - _ .
//	version: 1.4.2               # semver
//	kind: wasm                   # the stage type it runs as: lua, js, wasm, rpc, native
//	entry: redact.wasm           # relative to the manifest
//	api: ">=1.0, <2"             # host API versions it works with
//	description: masks card numbers
//	config_schema:               # optional JSON Schema of the stage's config:
//	  type: object
//	  required: [fields]
//
// Plugin directories hold plugin folders, one or two levels down
// (DIR/redact/plugin.yaml or DIR/redact/1.4.2/plugin.yaml).
//
// # Trust
//
// Discovery resolves every directory to an absolute path without symbolic
// links, once; an entry (or manifest) that is a symbolic link to a file
// outside its plugin folder is refused like an entry of "../x". The entry
// file and the manifest are read once, at discovery: their SHA-256s
// (Plugin.SHA256, Plugin.ManifestSHA256) are what a signature is checked
// against and what the resolver hands to the stage kind
// (engine.ResolvedPlugin.SHA256), which refuses a file that no longer
// matches when it reads it. See README.md in this folder for the threat
// model.
package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/semver"
)

// HostAPIVersion is the version of the stage contract this pipe offers to
// plugins; a plugin's api: range must include it.
const HostAPIVersion = engine.APIVersion

// ManifestName is the file name of a plugin manifest.
const ManifestName = "plugin.yaml"

// Manifest is a plugin.yaml.
type Manifest struct {
	Name         string        `yaml:"name"`
	Version      string        `yaml:"version"`
	Kind         string        `yaml:"kind"`
	Entry        string        `yaml:"entry"`
	API          string        `yaml:"api"`
	Description  string        `yaml:"description"`
	ConfigSchema engine.Config `yaml:"config_schema"`
}

// Plugin is a discovered plugin.
type Plugin struct {
	Manifest
	Dir          string          // the plugin's folder
	ManifestPath string          // its plugin.yaml
	EntryPath    string          // its entry file
	Version      *semver.Version // parsed Manifest.Version
	API          *semver.Constraints
	// Compatible reports whether API admits HostAPIVersion; Why says why not.
	Compatible bool
	Why        string
	// Signature: "signed by KEY", "unsigned", "signed, not verified: ..."
	// (no key trusted), "invalid: ..." (see Verify).
	Signature string
	Signed    bool
	// SHA256 and ManifestSHA256 are the hex SHA-256s of the entry file and
	// the manifest as read at discovery.
	SHA256         string
	ManifestSHA256 string
	// Verification is what checking the signature found (Catalog.Trust).
	Verification Verification
	schema       []byte
}

// entryRel is the entry's path relative to the plugin folder, as the
// manifest names it.
func (p *Plugin) entryRel() string { return filepath.Clean(p.Entry) }

// Problem is a plugin folder that could not be read.
type Problem struct {
	Path string
	Err  error
}

// Catalog is what discovery found.
type Catalog struct {
	Dirs     []string
	Plugins  []*Plugin // sorted by name, then version descending
	Problems []Problem
	Shadowed []*Plugin // same name and version as an earlier directory's
	trusted  []Key
	required bool
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`) })

// Kinds a manifest may name.
var Kinds = []string{"lua", "js", "wasm", "rpc", "native"}

// LoadManifest reads and checks one plugin.yaml. The plugin's folder and
// entry file are absolute real paths (symbolic links resolved); an entry
// or manifest that resolves to a file outside the folder is refused.
func LoadManifest(path string) (*Plugin, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	path = filepath.Join(dir, filepath.Base(abs))
	if real, err := filepath.EvalSymlinks(path); err == nil && !inside(dir, real) {
		return nil, &engine.ConfigError{File: path, Msg: fmt.Sprintf("a symbolic link to %s, outside the plugin folder: refused", real)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Decoded as a Config first, so that every error points at the
	// offending value (or, for a missing field, at the manifest).
	var doc engine.Config
	if err := engine.DecodeYAML(data, path, &doc); err != nil {
		return nil, err
	}
	var m Manifest
	if err := doc.Decode(&m); err != nil {
		return nil, err
	}
	cerr := func(field, format string, args ...any) error {
		return doc.Errorf(field, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	switch {
	case !nameRE().MatchString(m.Name):
		return nil, cerr("name", "%q is not a plugin name (letters, digits, - _ .)", m.Name)
	case !slices.Contains(Kinds, m.Kind):
		return nil, cerr("kind", "%q is not a stage kind (want one of %s)", m.Kind, strings.Join(Kinds, ", "))
	case m.Entry == "" || filepath.IsAbs(m.Entry) || strings.HasPrefix(filepath.Clean(m.Entry), ".."):
		return nil, cerr("entry", "%q must be a file inside the plugin folder", m.Entry)
	case m.API == "":
		return nil, cerr("api", "the host API range is required (e.g. \">=1.0, <2\")")
	}
	p := &Plugin{Manifest: m, Dir: dir, ManifestPath: path}
	p.EntryPath = filepath.Join(p.Dir, m.Entry)
	msum := sha256.Sum256(data)
	p.ManifestSHA256 = hex.EncodeToString(msum[:])
	if p.Version, err = semver.StrictNewVersion(m.Version); err != nil {
		if p.Version, err = semver.NewVersion(m.Version); err != nil {
			return nil, cerr("version", "%q is not a semantic version (e.g. 1.4.2)", m.Version)
		}
	}
	if p.API, err = semver.NewConstraint(m.API); err != nil {
		return nil, cerr("api", "%q is not a version range: %v", m.API, err)
	}
	real, err := filepath.EvalSymlinks(p.EntryPath)
	if err != nil {
		return nil, cerr("entry", "%v", err)
	}
	if !inside(dir, real) {
		return nil, cerr("entry", "%q is a symbolic link to %s, outside the plugin folder: refused", m.Entry, real)
	}
	if fi, err := os.Stat(real); err != nil {
		return nil, cerr("entry", "%v", err)
	} else if !fi.Mode().IsRegular() {
		return nil, cerr("entry", "%q is not a regular file", m.Entry)
	}
	entry, err := os.ReadFile(real)
	if err != nil {
		return nil, cerr("entry", "%v", err)
	}
	esum := sha256.Sum256(entry)
	p.EntryPath, p.SHA256 = real, hex.EncodeToString(esum[:])
	if !m.ConfigSchema.IsZero() {
		if p.schema, err = m.ConfigSchema.JSON(); err != nil {
			return nil, err
		}
	}
	host := semver.MustParse(HostAPIVersion)
	p.Compatible = p.API.Check(host)
	if !p.Compatible {
		p.Why = fmt.Sprintf("needs host API %s; this pipe has %s", m.API, HostAPIVersion)
	}
	return p, nil
}

// inside reports whether path is dir or below it (both clean and absolute).
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// RealDir returns dir as an absolute path without symbolic links (dir
// itself, made absolute, when it does not exist).
func RealDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// Discover reads every plugin folder of dirs, in order: when two
// directories hold the same name and version, the first wins. Each
// directory is made an absolute real path first (RealDir), so what is
// verified and what runs do not depend on the working directory.
func Discover(dirs []string) *Catalog {
	c := &Catalog{}
	for _, d := range dirs {
		c.Dirs = append(c.Dirs, RealDir(d))
	}
	seen := map[string]*Plugin{}
	for _, dir := range c.Dirs {
		var manifests []string
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if path == dir {
					c.Problems = append(c.Problems, Problem{dir, err})
				}
				return nil
			}
			depth := strings.Count(strings.TrimPrefix(path, dir), string(filepath.Separator))
			if d.IsDir() && depth > 2 {
				return fs.SkipDir
			}
			if !d.IsDir() && d.Name() == ManifestName && depth >= 1 {
				manifests = append(manifests, path)
			}
			return nil
		})
		slices.Sort(manifests)
		for _, m := range manifests {
			p, err := LoadManifest(m)
			if err != nil {
				c.Problems = append(c.Problems, Problem{m, err})
				continue
			}
			key := p.Name + "@" + p.Version.String()
			if first, dup := seen[key]; dup {
				_ = first
				c.Shadowed = append(c.Shadowed, p)
				continue
			}
			seen[key] = p
			c.Plugins = append(c.Plugins, p)
		}
	}
	slices.SortStableFunc(c.Plugins, func(a, b *Plugin) int {
		if a.Name != b.Name {
			return strings.Compare(a.Name, b.Name)
		}
		return b.Version.Compare(a.Version)
	})
	return c
}

// Trust sets the keys whose signatures count, and whether a plugin
// without one is refused.
func (c *Catalog) Trust(keys []Key, require bool) {
	c.trusted, c.required = keys, require
	for _, p := range c.Plugins {
		p.Signed, p.Signature = false, "unsigned"
		p.Verification = Check(p, keys)
		if err := p.Verification.Err; err == nil {
			p.Signed, p.Signature = true, "signed by "+p.Verification.Key.Name
		} else if errors.Is(err, ErrNoTrustedKey) {
			p.Signature = err.Error()
		} else if !errors.Is(err, ErrUnsigned) {
			p.Signature = "invalid: " + err.Error()
		}
	}
}

// Resolve picks the highest version of name that satisfies constraint and
// the host API (and, when signatures are required, is signed by a trusted
// key). ok is false when no plugin has that name.
func (c *Catalog) Resolve(name, constraint string) (p *Plugin, ok bool, err error) {
	var same []*Plugin
	for _, q := range c.Plugins {
		if q.Name == name {
			same = append(same, q)
		}
	}
	if len(same) == 0 {
		// A folder of that name whose manifest is broken: say so, rather
		// than let the stage look like an unknown transformer.
		for _, pr := range c.Problems {
			if filepath.Base(pr.Path) != ManifestName {
				continue
			}
			if d := filepath.Dir(pr.Path); filepath.Base(d) == name || filepath.Base(filepath.Dir(d)) == name {
				return nil, true, fmt.Errorf("plugin %s cannot be used, its manifest is invalid: %w", name, pr.Err)
			}
		}
		return nil, false, nil
	}
	var want *semver.Constraints
	if constraint != "" {
		if want, err = semver.NewConstraint(constraint); err != nil {
			return nil, true, fmt.Errorf("plugin %s: %q is not a version constraint: %v", name, constraint, err)
		}
	}
	var versions, refused []string
	for _, q := range same { // highest first
		versions = append(versions, q.Version.String())
		if want != nil && !want.Check(q.Version) {
			continue
		}
		if !q.Compatible {
			refused = append(refused, fmt.Sprintf("%s %s %s", q.Name, q.Version, q.Why))
			continue
		}
		if c.required && !q.Signed {
			refused = append(refused, fmt.Sprintf("%s %s is %s and signatures are required", q.Name, q.Version, q.Signature))
			continue
		}
		return q, true, nil
	}
	if len(refused) > 0 {
		return nil, true, fmt.Errorf("plugin %s: no usable version: %s", name, strings.Join(refused, "; "))
	}
	return nil, true, fmt.Errorf("plugin %s: no version matches %s (available: %s)", name, constraint, strings.Join(versions, ", "))
}

// Skipped is a version that matched a stage's constraint but was passed
// over for a lower one.
type Skipped struct {
	Plugin *Plugin
	Why    string
	// Signature is true when the version was refused for its signature
	// (unsigned, untrusted or tampered), not for its host API range.
	Signature bool
}

// Skipped lists the versions of name above picked (what Resolve returned)
// that satisfy constraint but were refused, highest first.
func (c *Catalog) Skipped(name, constraint string, picked *Plugin) []Skipped {
	want, err := semver.NewConstraint(constraint)
	if constraint == "" || err != nil {
		want = nil
	}
	var out []Skipped
	for _, q := range c.Plugins {
		if q.Name != name || (picked != nil && !q.Version.GreaterThan(picked.Version)) || (want != nil && !want.Check(q.Version)) {
			continue
		}
		switch {
		case !q.Compatible:
			out = append(out, Skipped{Plugin: q, Why: q.Why})
		case c.required && !q.Signed:
			out = append(out, Skipped{Plugin: q, Why: q.Signature + " and signatures are required", Signature: true})
		}
	}
	return out
}

// Resolver adapts a Catalog to engine.Resolver.
type Resolver struct {
	Catalog *Catalog
	// OnResolve, if set, hears of every resolution (for the audit log).
	OnResolve func(name, constraint string, p *Plugin, err error)
	// OnSkip, if set, hears of each higher matching version passed over
	// for the one picked (a tampered or unsigned newer version, say),
	// before OnResolve.
	OnSkip func(s Skipped)
}

// Resolve implements engine.Resolver.
func (r Resolver) Resolve(_ *engine.Spec, name, constraint string) (engine.ResolvedPlugin, bool, error) {
	p, ok, err := r.Catalog.Resolve(name, constraint)
	if r.OnSkip != nil && p != nil {
		for _, s := range r.Catalog.Skipped(name, constraint, p) {
			r.OnSkip(s)
		}
	}
	if r.OnResolve != nil && ok {
		r.OnResolve(name, constraint, p, err)
	}
	if err != nil || !ok {
		return engine.ResolvedPlugin{}, ok, err
	}
	// The entry's SHA-256 as read (and its signature checked) at
	// discovery: the kind refuses a file that no longer has it.
	return engine.ResolvedPlugin{Name: p.Name, Version: p.Version.String(), Kind: p.Kind, Entry: p.EntryPath, ConfigSchema: p.schema,
		SHA256: p.SHA256}, true, nil
}

// Info is a plugin as `pipe plugins --json` prints it.
type Info struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Kind        string `json:"kind"`
	Entry       string `json:"entry"`
	Dir         string `json:"dir"`
	Description string `json:"description,omitempty"`
	API         string `json:"api"`
	Compatible  bool   `json:"compatible"`
	Why         string `json:"why,omitempty"`
	Signature   string `json:"signature"`
	SHA256      string `json:"sha256"`
}

// Info describes p (the SHA-256 is the entry's as read at discovery).
func (p *Plugin) Info() Info {
	return Info{Name: p.Name, Version: p.Version.String(), Kind: p.Kind, Entry: p.EntryPath, Dir: p.Dir,
		Description: p.Description, API: p.Manifest.API, Compatible: p.Compatible, Why: p.Why,
		Signature: p.Signature, SHA256: p.SHA256}
}
