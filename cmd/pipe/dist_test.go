package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/internal/cli"
	"github.com/spf13/pflag"
)

// TestDist runs `make dist` for this machine's platform only, built as
// make build builds (with cgo, without -trimpath) so that the build cache
// of the tests serves it (a cgo-free, trimmed build of everything takes
// minutes on a loaded 2-core machine), and checks its output: SHA256SUMS matches the
// archive, the binary in it runs (`pipe version`), the man page of
// `pipe run` lists every flag of pipe run, and the completion scripts are
// there.
func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release archive")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dist := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	cmd := exec.Command("make", "-C", "../..", "dist", "DIST="+dist, "PLATFORMS="+platform,
		"DIST_CGO=1", "DIST_FLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var archive string
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s", name, h, sum)
		}
		archive = name
	}
	if n := strings.Count(string(sums), "\n"); n != 1 || !strings.HasSuffix(archive, "-"+runtime.GOOS+"-"+runtime.GOARCH+".tar.gz") {
		t.Fatalf("SHA256SUMS lists %d archives (%s), want the one of %s", n, archive, platform)
	}
	dir := filepath.Join(t.TempDir(), "x")
	untar(t, filepath.Join(dist, archive), dir)
	top := filepath.Join(dir, strings.TrimSuffix(archive, ".tar.gz"))

	out, err := exec.Command(filepath.Join(top, "pipe"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("pipe version: %v\n%s", err, out)
	}
	for _, want := range []string{"pipe v", "\ncommit ", "\nbuilt 20", "host API "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pipe version lacks %q:\n%s", want, out)
		}
	}

	man, err := os.ReadFile(filepath.Join(top, "man", "man1", "pipe-run.1"))
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := cli.Command().Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	check := func(f *pflag.Flag) {
		n++
		if !strings.Contains(string(man), `\fB--`+f.Name+`\fP`) {
			t.Errorf("man page of pipe run lacks --%s", f.Name)
		}
	}
	run.LocalFlags().VisitAll(check)
	run.InheritedFlags().VisitAll(check)
	if n < 10 {
		t.Errorf("only %d flags of pipe run checked", n)
	}
	for _, f := range []string{"pipe.bash", "_pipe", "pipe.fish"} {
		b, err := os.ReadFile(filepath.Join(top, "completions", f))
		if err != nil || !strings.Contains(string(b), "__complete") {
			t.Errorf("completion script %s: %v (does it call pipe __complete?)", f, err)
		}
	}
	for _, f := range []string{"LICENSE", "README.md", "CHANGELOG.md"} {
		if _, err := os.Stat(filepath.Join(top, f)); err != nil {
			t.Error(err)
		}
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.Clean(h.Name))
		if !strings.HasPrefix(path, dir+string(os.PathSeparator)) {
			t.Fatalf("archive entry %q leaves the folder", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(path), 0o755)
			w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			w.Close()
		}
	}
}
