package cli

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at build time by make (see the Makefile's LDFLAGS):
//
//	go build -ldflags "-X github.com/pipe-dev/pipe/internal/cli.Version=v1.2.3
//	  -X github.com/pipe-dev/pipe/internal/cli.Commit=0123abcd
//	  -X github.com/pipe-dev/pipe/internal/cli.Date=2026-12-02T21:00:00Z"
//
// Left empty (plain go build or go install), they come from the Go build
// info: the module version go install records, and the VCS revision and
// commit time go build stamps in a checkout.
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// buildInfo is what `pipe version` and the pipe_build_info metric report.
type buildInfo struct {
	Version string // v1.2.3, a pseudo-version, or "(devel)"
	Commit  string // VCS revision, "-dirty" appended for a modified tree; "unknown"
	Date    string // build date (RFC 3339), else the commit time; "unknown"
	Go      string // Go version that built the binary
}

// readBuildInfo combines the -ldflags values with the Go build info.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: Version, Commit: Commit, Date: Date, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		var rev, at string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if b.Commit == "" && rev != "" {
			b.Commit = shortRev(rev)
			if dirty {
				b.Commit += "-dirty"
			}
		}
		if b.Date == "" && at != "" {
			b.Date = at + " (commit time)"
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// printVersion writes the `pipe version` text.
func printVersion(w io.Writer, kinds []string) {
	b := readBuildInfo()
	fmt.Fprintf(w, "pipe %s\ncommit %s\nbuilt %s\ngo %s %s/%s\nhost API %s\nstage kinds: %s\n",
		b.Version, b.Commit, b.Date, b.Go, runtime.GOOS, runtime.GOARCH, HostAPIVersion, strings.Join(kinds, ", "))
}

// collectBuildInfo adds pipe_build_info: always 1, the build in its labels.
func collectBuildInfo(s *promSet) {
	b := readBuildInfo()
	s.add("pipe_build_info", "Always 1; the labels say which build of pipe is running.", promGauge, 1,
		"version", b.Version, "commit", b.Commit, "build_date", b.Date, "goversion", b.Go, "host_api", HostAPIVersion)
}
