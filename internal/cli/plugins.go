package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/plugins"
	"github.com/spf13/cobra"
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
	fl.StringArrayVar(&f.dirs, "plugin-dir", nil, "a plugin directory, searched before the pipeline's plugins.dirs and PIPE_PLUGIN_PATH (repeatable)")
	fl.StringArrayVar(&f.trust, "trust", nil, "a public key file whose plugin signatures are trusted (repeatable)")
	fl.BoolVar(&f.requireSigned, "require-signed", false, "refuse plugins without a signature by a trusted key")
	fl.StringVar(&f.auditLog, "audit-log", "", "append plugin and security events to this file as JSON lines")
}

// auditLog writes security-relevant events as JSON lines.
type auditLog struct {
	mu sync.Mutex
	w  io.WriteCloser
}

func (a *app) openAudit() (*auditLog, error) {
	if a.plug.auditLog == "" {
		return nil, nil
	}
	f, err := os.OpenFile(a.plug.auditLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, usagef("--audit-log: %v", err)
	}
	return &auditLog{w: f}, nil
}

func (l *auditLog) event(kind string, fields map[string]any) {
	if l == nil {
		return
	}
	fields["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	fields["event"] = kind
	b, _ := json.Marshal(fields)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(append(b, '\n'))
}

func (l *auditLog) close() {
	if l != nil {
		l.w.Close()
	}
}

// pluginDirs lists the directories to search: flags, the pipeline's
// plugins.dirs (relative to its file), then PIPE_PLUGIN_PATH.
func (a *app) pluginDirs(spec *engine.Spec) []string {
	dirs := append([]string(nil), a.plug.dirs...)
	if spec != nil {
		for _, d := range spec.Plugins.Dirs {
			if !filepath.IsAbs(d) && spec.File != "" {
				d = filepath.Join(filepath.Dir(spec.File), d)
			}
			dirs = append(dirs, d)
		}
	}
	for _, d := range filepath.SplitList(os.Getenv("PIPE_PLUGIN_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// catalog discovers the plugins a pipeline (or none) can use, with the
// trusted keys applied, and writes what it found to the audit log.
func (a *app) catalog(spec *engine.Spec, audit *auditLog) (*plugins.Catalog, error) {
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
			if !filepath.IsAbs(k) && spec.File != "" {
				k = filepath.Join(filepath.Dir(spec.File), k)
			}
			trust = append(trust, k)
		}
		require = require || spec.Plugins.RequireSigned
	}
	var keys []plugins.Key
	for _, t := range trust {
		k, err := plugins.LoadPublicKey(t)
		if err != nil {
			return nil, &engine.ConfigError{Msg: fmt.Sprintf("trusted key: %v", err), Err: err}
		}
		keys = append(keys, k)
	}
	c.Trust(keys, require)
	for _, p := range c.Plugins {
		info := p.Info()
		audit.event("plugin_discovered", map[string]any{"plugin": p.Name, "version": info.Version, "kind": p.Kind, "dir": p.Dir, "sha256": info.SHA256, "compatible": p.Compatible})
		switch {
		case p.Signed:
			audit.event("signature_verified", map[string]any{"plugin": p.Name, "version": info.Version, "signature": p.Signature})
		case strings.HasPrefix(p.Signature, "invalid"):
			audit.event("signature_failed", map[string]any{"plugin": p.Name, "version": info.Version, "reason": p.Signature})
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
	c, err := a.catalog(spec, audit)
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
	return engine.Build(spec, opts...)
}

func (a *app) pluginsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plugins [DIR...]",
		Short: "list discovered plugins, their versions and compatibility; keygen and sign",
		Long: `List the plugins in DIR... (default: --plugin-dir and PIPE_PLUGIN_PATH): name,
version, kind, whether this pipe can run it (host API ` + plugins.HostAPIVersion + `) and its
signature status. A plugin is a folder with a plugin.yaml manifest next to its
entry file; a pipeline uses it with use: NAME or use: NAME@CONSTRAINT.`,
		Example: `  pipe plugins ./plugins
  pipe plugins --json ./plugins | jq .
  pipe plugins keygen team-key
  pipe plugins sign --key team-key ./plugins/redact
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
			c, err := a.catalog(nil, audit)
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
		Short:   "make an ed25519 key pair for signing plugins: KEYFILE (private) and KEYFILE.pub",
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
		Short:   "sign plugin folders: writes DIR/plugin.sig over the manifest and entry file",
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
	sign.Flags().StringVar(&key, "key", "", "the private key file (from pipe plugins keygen)")
	cmd.AddCommand(keygen, sign)
	return cmd
}
