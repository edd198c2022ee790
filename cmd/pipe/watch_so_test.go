package main

import (
	"bufio"
	"fmt"
	"github.com/pipe-dev/pipe/engine/enginetest"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Reloading a pipeline that uses Go plugins (.so): an edit of the pipeline
// file reloads it with the plugin already loaded; a new .so is loaded; a
// changed .so is refused (Go cannot unload a plugin) with a message to
// restart, and the running pipeline goes on. No record is lost. (--watch
// also reloads on its own when the files change; SIGHUP makes it certain.)
func TestReloadGoPlugins(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"cases", "w2"} {
		out, err := exec.Command("go", "build", "-buildmode=plugin", "-o", filepath.Join(dir, p+".so"),
			"../../stages/native/testdata/plugins/"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("building the %s plugin: %v\n%s", p, err, out)
		}
	}
	file := filepath.Join(dir, "p.yaml")
	// Edits replace the file in one rename, so --watch never reads it
	// half-written (an empty file is refused, which would race with the
	// message each step waits for).
	edit := func(stages string) {
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte("stages:\n"+stages), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	edit("  - {name: s, type: native, path: cases.so, config: {case: split}}\n")
	cmd := exec.Command(pipeBin, "run", file, "--watch")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr enginetest.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	n := 0
	send := func(rec, want string) {
		t.Helper()
		n++
		fmt.Fprintf(in, "%s%d\n", rec, n)
		want = fmt.Sprintf(want, n)
		for _, w := range strings.Split(want, "\n") {
			if !lines.Scan() {
				t.Fatalf("output ended\n%s", stderr.String())
			}
			if lines.Text() != w {
				t.Fatalf("got %q, want %q\n%s", lines.Text(), w, stderr.String())
			}
		}
	}
	hup := func(want string) {
		t.Helper()
		before := strings.Count(stderr.String(), want)
		cmd.Process.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(20 * time.Second); strings.Count(stderr.String(), want) == before; {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after SIGHUP:\n%s", want, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	send("a,b", "a\nb%d")
	// The same .so with another config, and a second, new .so.
	edit("  - {name: s, type: native, path: cases.so, config: {case: identity}}\n  - {name: t, type: native, path: w2.so}\n")
	hup("pipeline reloaded")
	send("a,b", "A,B%d")
	// A rebuilt (changed) cases.so: refused, the old pipeline goes on.
	data, _ := os.ReadFile(filepath.Join(dir, "cases.so"))
	os.WriteFile(filepath.Join(dir, "cases.so"), append(data, 0), 0o755)
	edit("  - {name: s, type: native, path: cases.so, config: {case: upper}}\n")
	// The watcher may reload on the new .so before SIGHUP does; either
	// rejection (the watcher's hash check or the native kind's) must say it.
	hup("cannot be unloaded or reloaded")
	if log := stderr.String(); !strings.Contains(log, "reload rejected") || !strings.Contains(log, "restart pipe") {
		t.Errorf("the rejection does not say to restart:\n%s", stderr.String())
	}
	send("c,d", "C,D%d")
	in.Close()
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pipe: %v\n%s", err, stderr.String())
	}
}
