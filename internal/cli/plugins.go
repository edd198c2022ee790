package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/plugins"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/crypto/ssh"
)

// pluginFlags are the plugin options every command shares.
type pluginFlags struct {
	dirs          []string
	trust         []string
	requireSigned bool
	auditLog      string
}

func (f *pluginFlags) add(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	addStringArray(fl, &f.dirs, "plugin-dir", "a plugin directory, searched before the pipeline's plugins.dirs and PIPE_PLUGIN_PATH (repeatable)")
	addStringArray(fl, &f.trust, "trust", "a public key file whose plugin signatures are trusted (repeatable)")
	fl.BoolVar(&f.requireSigned, "require-signed", false, "refuse plugins without a signature by a trusted key")
	fl.StringVar(&f.auditLog, "audit-log", "", "append plugin and security events to this file as JSON lines")
}

// stringArray is pflag's StringArrayVar value (the same type name, Set,
// Append, Replace, GetSlice and text), except that an empty array's text,
// which pflag asks for when the flag is added, is made without a CSV
// writer: a 4 KiB buffer and 0.05 ms of every start for the two flags
// above (bench/NOTES.md).
//
// addStringArray adds one as fl.StringArrayVar(p, name, nil, usage) does.
// pflag leaves out the "(default [])" of its own type's empty default in
// the help; for another type it does so when the default's text is empty.
func addStringArray(fl *pflag.FlagSet, p *[]string, name, usage string) {
	fl.Var(&stringArray{value: p}, name, usage)
	fl.Lookup(name).DefValue = ""
}

type stringArray struct {
	value   *[]string
	changed bool
}

func (s *stringArray) Set(val string) error {
	if !s.changed {
		*s.value = []string{val}
		s.changed = true
	} else {
		*s.value = append(*s.value, val)
	}
	return nil
}

func (s *stringArray) Append(val string) error {
	*s.value = append(*s.value, val)
	return nil
}

func (s *stringArray) Replace(val []string) error {
	*s.value = append([]string(nil), val...)
	return nil
}

func (s *stringArray) GetSlice() []string { return append([]string{}, *s.value...) }

func (s *stringArray) Type() string { return "stringArray" }

func (s *stringArray) String() string {
	if len(*s.value) == 0 {
		return "[]"
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(*s.value) // a bytes.Buffer does not fail
	w.Flush()
	return "[" + strings.TrimSuffix(b.String(), "\n") + "]"
}

// auditLog writes security-relevant events as JSON lines. An audit log
// that cannot be written when it is opened stops the command before any
// plugin loads (exit 2); a write that fails later is logged as an error,
// counted (pipe_audit_write_errors_total) and makes the run exit 1 at its
// end (err).
type auditLog struct {
	mu     sync.Mutex
	w      io.WriteCloser
	path   string
	log    *slog.Logger
	failed int
	first  error
}

// auditWriteErrors counts audit events that could not be written.
// It is pipe_audit_write_errors_total in /metrics.
var auditWriteErrors atomic.Int64

// openAuditFile opens the audit log for appending (a variable for tests).
var openAuditFile = func(path string) (io.WriteCloser, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// openAudit opens --audit-log and writes its first event (audit_opened),
// so that a path that cannot take a line (a directory, /dev/full, a full
// disk, no permission) is a usage error before anything runs.
func (a *app) openAudit() (*auditLog, error) {
	if a.plug.auditLog == "" {
		return nil, nil
	}
	f, err := openAuditFile(a.plug.auditLog)
	if err != nil {
		return nil, usagef("--audit-log: %v", err)
	}
	l := &auditLog{w: f, path: a.plug.auditLog, log: slog.New(slog.NewTextHandler(a.stderr, nil))}
	if err := l.write("audit_opened", map[string]any{"pid": os.Getpid()}); err != nil {
		f.Close()
		return nil, usagef("--audit-log %s cannot be written: %v", a.plug.auditLog, err)
	}
	if lg, err := a.logger(); err == nil {
		l.log = lg
	}
	return l, nil
}

func (l *auditLog) write(kind string, fields map[string]any) error {
	fields["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	fields["event"] = kind
	b, err := json.Marshal(fields)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"time": fields["time"], "event": kind, "marshal_error": err.Error()})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(append(b, '\n'))
	return err
}

func (l *auditLog) event(kind string, fields map[string]any) {
	if l == nil {
		return
	}
	if err := l.write(kind, fields); err != nil {
		auditWriteErrors.Add(1)
		l.mu.Lock()
		l.failed++
		if l.first == nil {
			l.first = err
		}
		l.mu.Unlock()
		l.log.Error("audit log write failed; the event is lost", "file", l.path, "event", kind, "err", err)
	}
}

// err reports the events that could not be written (nil when none).
func (l *auditLog) err() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == 0 {
		return nil
	}
	return fmt.Errorf("audit log %s: %d events could not be written: %w", l.path, l.failed, l.first)
}

func (l *auditLog) close() {
	if l != nil {
		l.w.Close()
	}
}

// sandboxFields are the stage fields by which a kind's sandbox is relaxed
// (lua's allow: [os, io], wasm's allow: [clock, random, ...]).
var sandboxFields = []string{"allow", "grant", "grants"}

// auditSandbox writes a sandbox_relaxed event for every stage that opts
// out of (part of) its kind's sandbox.
func auditSandbox(spec *engine.Spec, audit *auditLog) {
	if audit == nil || spec == nil {
		return
	}
	for i := range spec.Stages {
		s := &spec.Stages[i]
		if s.Extra.IsZero() {
			continue
		}
		v, err := s.Extra.Value()
		m, ok := v.(map[string]any)
		if err != nil || !ok {
			continue
		}
		for _, f := range sandboxFields {
			if g, ok := m[f]; ok && g != nil {
				if l, isList := g.([]any); isList && len(l) == 0 {
					continue
				}
				audit.event("sandbox_relaxed", map[string]any{"stage": s.Name, "kind": s.Type, "field": f, "allow": g, "file": spec.File})
			}
		}
	}
}

// pluginDirs lists the directories to search: flags, the pipeline's
// plugins.dirs (relative to its file), then PIPE_PLUGIN_PATH; each an
// absolute path without symbolic links (resolved once, here), so the
// file a signature is checked on is the file that runs, wherever pipe
// is started from.
func (a *app) pluginDirs(spec *engine.Spec) []string {
	var dirs []string
	for _, d := range a.plug.dirs {
		dirs = append(dirs, plugins.RealDir(d))
	}
	if spec != nil {
		for _, d := range spec.Plugins.Dirs {
			dirs = append(dirs, plugins.RealDir(specRelative(spec, d)))
		}
	}
	for _, d := range filepath.SplitList(os.Getenv("PIPE_PLUGIN_PATH")) {
		if d != "" {
			dirs = append(dirs, plugins.RealDir(d))
		}
	}
	return dirs
}

// specRelative returns p relative to the directory of spec's file (p when
// absolute or spec has no file).
func specRelative(spec *engine.Spec, p string) string {
	if filepath.IsAbs(p) || spec.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(spec.File), p)
}

// catalog discovers the plugins a pipeline (or none) can use, with the
// trusted keys applied, and writes what it found to the audit log.
func (a *app) catalog(spec *engine.Spec, log *slog.Logger, audit *auditLog) (*plugins.Catalog, error) {
	c := plugins.Discover(a.pluginDirs(spec))
	for _, p := range c.Plugins { // a kind this binary lacks cannot run here either
		if _, ok := a.reg.Kind(p.Kind); !ok && p.Compatible {
			p.Compatible = false
			p.Why = fmt.Sprintf("kind %s is not built into this pipe (it has %s)", p.Kind, strings.Join(a.reg.Kinds(), ", "))
		}
	}
	trust := append([]string(nil), a.plug.trust...)
	require := a.plug.requireSigned
	if spec != nil {
		for _, k := range spec.Plugins.Trust {
			trust = append(trust, specRelative(spec, k))
		}
		require = require || spec.Plugins.RequireSigned
	}
	var keys []plugins.Key
	for _, t := range trust {
		ks, err := plugins.LoadPublicKeys(t)
		if err != nil {
			return nil, &engine.ConfigError{Msg: fmt.Sprintf("trusted key: %v", err), Err: err}
		}
		for _, k := range ks {
			if k.Legacy {
				log.Warn("trusted key file in pipe's old key format (deprecated, read until the next release); use the OpenSSH public key of pipe plugins keygen", "file", t)
			}
		}
		keys = append(keys, ks...)
	}
	c.Trust(keys, require)
	for _, p := range c.Plugins {
		info := p.Info()
		audit.event("plugin_discovered", map[string]any{"plugin": p.Name, "version": info.Version, "kind": p.Kind, "dir": p.Dir, "sha256": info.SHA256, "compatible": p.Compatible})
		switch {
		case p.Signed:
			ev := map[string]any{"plugin": p.Name, "version": info.Version, "signature": p.Signature, "sha256": info.SHA256, "key": p.Verification.Key.Fingerprint()}
			if p.Verification.Legacy {
				ev["format"] = "legacy"
				log.Warn("plugin signed in pipe's old signature format (deprecated, read until the next release); re-sign it with pipe plugins sign", "plugin", p.Name, "version", info.Version, "dir", p.Dir)
			}
			audit.event("signature_verified", ev)
		case strings.HasPrefix(p.Signature, "invalid"):
			audit.event("signature_failed", map[string]any{"plugin": p.Name, "version": info.Version, "reason": p.Signature, "sha256": info.SHA256})
		}
	}
	for _, pr := range c.Problems {
		audit.event("plugin_refused", map[string]any{"path": pr.Path, "reason": pr.Err.Error()})
	}
	return c, nil
}

// buildOptions are the engine options of a command: logger, registry and,
// when plugin directories exist, the plugin resolver.
func (a *app) buildOptions(spec *engine.Spec, log *slog.Logger, audit *auditLog) ([]engine.Option, error) {
	opts := []engine.Option{engine.WithLogger(log), engine.WithRegistry(a.reg)}
	if audit != nil {
		opts = append(opts, engine.WithEvents(func(stage, kind, event string, attrs map[string]any) {
			attrs["stage"], attrs["kind"] = stage, kind
			audit.event(event, attrs)
		}))
	}
	c, err := a.catalog(spec, log, audit)
	if err != nil {
		return nil, err
	}
	for _, pr := range c.Problems { // a missing directory, a broken manifest
		log.Warn("plugin not usable", "path", pr.Path, "err", pr.Err)
	}
	if len(c.Dirs) > 0 {
		opts = append(opts, engine.WithResolver(plugins.Resolver{Catalog: c, OnSkip: func(s plugins.Skipped) {
			info := s.Plugin.Info()
			audit.event("plugin_refused", map[string]any{"plugin": s.Plugin.Name, "version": info.Version, "kind": s.Plugin.Kind, "sha256": info.SHA256, "reason": s.Why})
			if s.Signature { // a newer version refused for its signature: a security matter
				log.Warn("plugin version refused, using an older one", "plugin", s.Plugin.Name, "version", info.Version, "reason", s.Why)
			} else {
				log.Debug("plugin version skipped", "plugin", s.Plugin.Name, "version", info.Version, "reason", s.Why)
			}
		}, OnResolve: func(name, constraint string, p *plugins.Plugin, err error) {
			if err != nil {
				audit.event("plugin_refused", map[string]any{"plugin": name, "constraint": constraint, "reason": err.Error()})
				return
			}
			info := p.Info()
			if strings.HasPrefix(p.Signature, "invalid") {
				// Keys are trusted but signatures not required: a plugin
				// whose signature no longer matches runs (unsigned ones do
				// too), loudly. --require-signed refuses it.
				log.Warn("plugin signature does not match its files; running it because signatures are not required (--require-signed refuses it)",
					"plugin", p.Name, "version", info.Version, "dir", p.Dir, "reason", strings.TrimPrefix(p.Signature, "invalid: "))
				audit.event("plugin_signature_mismatch", map[string]any{"plugin": p.Name, "version": info.Version, "kind": p.Kind, "entry": p.EntryPath,
					"sha256": info.SHA256, "reason": p.Signature, "differs": p.Verification.Differs, "action": "loaded: signatures not required"})
			}
			audit.event("plugin_loaded", map[string]any{"plugin": p.Name, "version": info.Version, "kind": p.Kind, "entry": p.EntryPath, "sha256": info.SHA256, "signature": p.Signature})
			log.Info("plugin resolved", "plugin", p.Name, "version", info.Version, "kind", p.Kind)
		}}))
	}
	return opts, nil
}

// build builds spec with the command's options (see buildOptions).
func (a *app) build(spec *engine.Spec, log *slog.Logger, audit *auditLog) (*engine.Pipeline, error) {
	opts, err := a.buildOptions(spec, log, audit)
	if err != nil {
		return nil, err
	}
	p, err := engine.Build(spec, opts...)
	if err == nil {
		auditSandbox(spec, audit)
	}
	return p, err
}

func (a *app) pluginsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plugins [DIR...]",
		Short: "list discovered plugins, their versions and compatibility; keygen, sign and verify",
		Long: `List the plugins in DIR... (default: --plugin-dir and PIPE_PLUGIN_PATH): name,
version, kind, whether this pipe can run it (host API ` + plugins.HostAPIVersion + `) and its
signature status. A plugin is a folder with a plugin.yaml manifest next to its
entry file; a pipeline uses it with use: NAME or use: NAME@CONSTRAINT.
Signatures are SSH signatures (ssh-keygen -Y, namespace pipe-plugin) over
the folder's plugin.sha256; pipe plugins verify checks them for CI.`,
		Example: `  pipe plugins ./plugins
  pipe plugins --json ./plugins | jq .
  pipe plugins keygen team-key
  pipe plugins sign --key team-key ./plugins/redact
  pipe plugins verify --trust team-key.pub ./plugins
  pipe run p.yaml --plugin-dir ./plugins --trust team-key.pub --require-signed`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dirs := args
			if len(dirs) == 0 {
				dirs = a.pluginDirs(nil)
			}
			if len(dirs) == 0 {
				return usagef("no plugin directory: give DIR, --plugin-dir or PIPE_PLUGIN_PATH")
			}
			saved := a.plug.dirs
			a.plug.dirs = dirs
			defer func() { a.plug.dirs = saved }()
			t := os.Getenv("PIPE_PLUGIN_PATH")
			os.Unsetenv("PIPE_PLUGIN_PATH")
			defer os.Setenv("PIPE_PLUGIN_PATH", t)
			audit, err := a.openAudit()
			if err != nil {
				return err
			}
			defer audit.close()
			log, err := a.logger()
			if err != nil {
				return err
			}
			c, err := a.catalog(nil, log, audit)
			if err != nil {
				return err
			}
			if asJSON {
				out := struct {
					HostAPI  string              `json:"host_api"`
					Plugins  []plugins.Info      `json:"plugins"`
					Problems []map[string]string `json:"problems"`
				}{HostAPI: plugins.HostAPIVersion, Plugins: []plugins.Info{}, Problems: []map[string]string{}}
				for _, p := range c.Plugins {
					out.Plugins = append(out.Plugins, p.Info())
				}
				for _, p := range c.Problems {
					out.Problems = append(out.Problems, map[string]string{"path": p.Path, "error": p.Err.Error()})
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tKIND\tCOMPATIBLE\tSIGNATURE\tDIR")
			for _, p := range c.Plugins {
				comp := "yes"
				if !p.Compatible {
					comp = "no: " + p.Why
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Kind, comp, p.Signature, p.Dir)
			}
			tw.Flush()
			for _, p := range c.Shadowed {
				a.printWarn(fmt.Sprintf("%s %s in %s is shadowed by the same version in an earlier directory", p.Name, p.Version, p.Dir))
			}
			for _, p := range c.Problems {
				a.printErr(p.Err)
			}
			if len(c.Problems) > 0 {
				return errTestsConfig // reported above: exit 2
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, for scripts")
	var keyName string
	keygen := &cobra.Command{
		Use:     "keygen KEYFILE",
		Short:   "make an ed25519 OpenSSH key pair for signing plugins: KEYFILE (private) and KEYFILE.pub",
		Example: "  pipe plugins keygen team-key --name team",
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Stat(args[0]); err == nil {
				return usagef("%s exists; not overwriting a key", args[0])
			}
			if err := plugins.Keygen(args[0], keyName); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s (private, keep it secret) and %s.pub (trust it with --trust)\n", args[0], args[0])
			return nil
		},
	}
	keygen.Flags().StringVar(&keyName, "name", "", "a label for the key, shown in signature status (default: the file name)")
	var key string
	sign := &cobra.Command{
		Use:     "sign --key KEYFILE DIR...",
		Short:   "sign plugin folders: writes DIR/plugin.sha256 (manifest and entry) and its SSH signature DIR/plugin.sig",
		Example: "  pipe plugins sign --key team-key plugins/redact",
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usagef("pipe plugins sign needs --key KEYFILE")
			}
			for _, dir := range args {
				p, err := plugins.Sign(dir, key)
				var ke *plugins.KeyError
				switch {
				case errors.As(err, &ke):
					return usagef("--key: %v", err)
				case errors.Is(err, fs.ErrNotExist):
					return usagef("%s is not a plugin folder: %v", dir, err)
				case err != nil:
					return err
				}
				fmt.Fprintf(a.stdout, "signed %s %s (%s)\n", p.Name, p.Version, filepath.Join(dir, plugins.SignatureName))
			}
			return nil
		},
	}
	sign.Flags().StringVar(&key, "key", "", "the private key file (from pipe plugins keygen, or an unencrypted OpenSSH key)")
	cmd.AddCommand(keygen, sign, a.verifyCmd())
	return cmd
}

// verified is one plugin in the output of pipe plugins verify --json.
type verified struct {
	Name        string            `json:"name,omitempty"`
	Version     string            `json:"version,omitempty"`
	Path        string            `json:"path"`
	OK          bool              `json:"ok"`
	SignedBy    string            `json:"signed_by,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Trusted     bool              `json:"trusted"`
	Signed      map[string]string `json:"signed,omitempty"`
	Differs     []string          `json:"differs,omitempty"`
	Legacy      bool              `json:"legacy_format,omitempty"`
	Error       string            `json:"error,omitempty"`
}

// verifyCmd is `pipe plugins verify DIR...`: a check for CI.
func (a *app) verifyCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --trust KEY.pub DIR...",
		Short: "check plugin folders against trusted keys: what is signed, by whom, what differs",
		Long: `Check each plugin in DIR... (a plugin folder, or a directory of plugin
folders) against the keys of --trust: prints, per plugin, whether its
signature is valid, which key made it, the files it covers with their
SHA-256s, and every file that differs from what was signed. Exits 1 when
any plugin is unsigned, signed by a key that is not trusted, tampered with,
or cannot be read; 2 without --trust or DIR.`,
		Example: `  pipe plugins verify --trust keys/team.pub plugins/
  # the same check with standard tools, for one plugin:
  cd plugins/redact/1.4.2 && sha256sum -c plugin.sha256 &&
    ssh-keygen -Y verify -f allowed_signers -I team -n pipe-plugin -s plugin.sig < plugin.sha256`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			if len(a.plug.trust) == 0 {
				return usagef("pipe plugins verify needs --trust KEY.pub (the keys whose signatures count)")
			}
			var keys []plugins.Key
			for _, t := range a.plug.trust {
				ks, err := plugins.LoadPublicKeys(t)
				if err != nil {
					return usagef("--trust: %v", err)
				}
				keys = append(keys, ks...)
			}
			failed := 0
			results := []verified{}
			for _, dir := range args {
				var c *plugins.Catalog
				if _, err := os.Stat(filepath.Join(dir, plugins.ManifestName)); err == nil {
					c = &plugins.Catalog{}
					p, err := plugins.LoadManifest(filepath.Join(dir, plugins.ManifestName))
					if err != nil {
						c.Problems = append(c.Problems, plugins.Problem{Path: filepath.Join(dir, plugins.ManifestName), Err: err})
					} else {
						c.Plugins = append(c.Plugins, p)
					}
				} else {
					c = plugins.Discover([]string{dir})
					if len(c.Plugins) == 0 && len(c.Problems) == 0 {
						c.Problems = append(c.Problems, plugins.Problem{Path: dir, Err: errors.New("no plugin folder (no plugin.yaml) found")})
					}
				}
				c.Trust(keys, true)
				for _, p := range c.Plugins {
					v := p.Verification
					r := verified{Name: p.Name, Version: p.Version.String(), Path: p.Dir, OK: v.Err == nil, Signed: v.Signed, Differs: v.Differs, Legacy: v.Legacy}
					switch {
					case v.Key.Pub != nil:
						r.SignedBy, r.Fingerprint, r.Trusted = v.Key.Name, v.Key.Fingerprint(), true
					case v.Signer != nil:
						r.Fingerprint = ssh.FingerprintSHA256(v.Signer)
					}
					if v.Err != nil {
						r.Error = v.Err.Error()
						failed++
					}
					results = append(results, r)
					if !asJSON {
						a.printVerification(p, log)
					}
				}
				for _, pr := range c.Problems {
					results = append(results, verified{Path: pr.Path, Error: pr.Err.Error()})
					if !asJSON {
						fmt.Fprintf(a.stdout, "FAIL %s: %v\n", pr.Path, pr.Err)
					}
					failed++
				}
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d plugins failed verification", failed)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON, for scripts")
	return cmd
}

// printVerification prints what checking p's signature found.
func (a *app) printVerification(p *plugins.Plugin, log *slog.Logger) {
	v := p.Verification
	ok := v.Err == nil
	status := "OK  "
	if !ok {
		status = "FAIL"
	}
	fmt.Fprintf(a.stdout, "%s %s %s (%s)\n", status, p.Name, p.Version, p.Dir)
	switch {
	case ok:
		fmt.Fprintf(a.stdout, "  signed by %s (%s)\n", v.Key.Name, v.Key.Fingerprint())
	case errors.Is(v.Err, plugins.ErrUnsigned):
		fmt.Fprintf(a.stdout, "  unsigned: no %s\n", plugins.SignatureName)
	default:
		fmt.Fprintf(a.stdout, "  %v\n", v.Err)
		switch {
		case v.Key.Pub != nil:
			fmt.Fprintf(a.stdout, "  signed by %s (%s)\n", v.Key.Name, v.Key.Fingerprint())
		case v.Signer != nil:
			fmt.Fprintf(a.stdout, "  signed by key %s (not trusted)\n", ssh.FingerprintSHA256(v.Signer))
		}
	}
	if v.Legacy && ok {
		fmt.Fprintf(a.stdout, "  old signature format (deprecated): re-sign with pipe plugins sign\n")
		log.Warn("plugin signed in pipe's old signature format (deprecated, read until the next release)", "plugin", p.Name, "dir", p.Dir)
	}
	names := make([]string, 0, len(v.Signed))
	for n := range v.Signed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(a.stdout, "  signed   %s  %s\n", v.Signed[n], n)
	}
	for _, d := range v.Differs {
		fmt.Fprintf(a.stdout, "  differs  %s\n", d)
	}
}
