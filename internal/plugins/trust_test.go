package plugins

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestEntrySymlinks: an entry or manifest that is a symbolic link to a
// file outside the plugin folder is refused; a link inside it is fine, and
// the entry path is the real file's.
func TestEntrySymlinks(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside.bin")
	os.WriteFile(outside, []byte("evil"), 0o755)

	bad := writePlugin(t, dir, "plugins/bad", manifest("bad", "1.0.0", ">=1.0"), "")
	os.Symlink(outside, filepath.Join(bad, "entry.bin"))
	_, err := LoadManifest(filepath.Join(bad, ManifestName))
	if err == nil || !strings.Contains(err.Error(), "is a symbolic link to "+outside+", outside the plugin folder: refused") {
		t.Errorf("entry linked outside: %v", err)
	}
	// ../ through a link to a directory outside is the same thing.
	viaDir := writePlugin(t, dir, "plugins/viadir", strings.Replace(manifest("viadir", "1.0.0", ">=1.0"), "entry: entry.bin", "entry: up/outside.bin", 1), "")
	os.Symlink(dir, filepath.Join(viaDir, "up"))
	if _, err := LoadManifest(filepath.Join(viaDir, ManifestName)); err == nil || !strings.Contains(err.Error(), "outside the plugin folder") {
		t.Errorf("entry through a linked directory: %v", err)
	}
	// A manifest linked from elsewhere.
	elsewhere := writePlugin(t, dir, "elsewhere", manifest("m", "1.0.0", ">=1.0"), "x")
	mlink := filepath.Join(dir, "plugins", "mlink")
	os.MkdirAll(mlink, 0o755)
	os.WriteFile(filepath.Join(mlink, "entry.bin"), []byte("x"), 0o644)
	os.Symlink(filepath.Join(elsewhere, ManifestName), filepath.Join(mlink, ManifestName))
	if _, err := LoadManifest(filepath.Join(mlink, ManifestName)); err == nil || !strings.Contains(err.Error(), "outside the plugin folder") {
		t.Errorf("manifest linked outside: %v", err)
	}
	// Inside the folder: fine, and the entry is the real file.
	good := writePlugin(t, dir, "plugins/good", manifest("good", "1.0.0", ">=1.0"), "")
	os.MkdirAll(filepath.Join(good, "v1"), 0o755)
	os.WriteFile(filepath.Join(good, "v1", "real.bin"), []byte("ok"), 0o644)
	os.Symlink("v1/real.bin", filepath.Join(good, "entry.bin"))
	p, err := LoadManifest(filepath.Join(good, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(filepath.Join(good, "v1", "real.bin"))
	if p.EntryPath != real || p.SHA256 != hex.EncodeToString(sha(t, []byte("ok"))) {
		t.Errorf("entry %s %s, want %s and the sha256 of its bytes", p.EntryPath, p.SHA256, real)
	}
	// ../ and absolute entries, as before.
	for i, e := range []string{"../outside.bin", "../../bin/sh", "/bin/sh", "a/../../outside.bin"} {
		d := writePlugin(t, dir, "dotdot/"+strings.Repeat("x", i+1), strings.Replace(manifest("dd", "1.0.0", ">=1.0"), "entry: entry.bin", "entry: "+e, 1), "")
		if _, err := LoadManifest(filepath.Join(d, ManifestName)); err == nil || !strings.Contains(err.Error(), "must be a file inside the plugin folder") {
			t.Errorf("entry %s: %v", e, err)
		}
	}
	// Discovery reports the refused ones as problems.
	c := Discover([]string{filepath.Join(dir, "plugins")})
	if len(c.Plugins) != 1 || len(c.Problems) != 3 {
		t.Errorf("plugins %d, problems %v; want good only, three refused", len(c.Plugins), c.Problems)
	}
}

func sha(t *testing.T, b []byte) []byte {
	t.Helper()
	s := sha256.Sum256(b)
	return s[:]
}

// TestRelativeDirsAreMadeReal: discovery makes every directory absolute
// and free of symbolic links, once; entries are absolute real paths, and
// the resolver pins the SHA-256 of the bytes read at discovery (what the
// signature was checked against), not of whatever is there later.
func TestRelativeDirsAreMadeReal(t *testing.T) {
	dir := t.TempDir()
	writePlugin(t, dir, "real/redact", manifest("redact", "1.0.0", ">=1.0"), "v1")
	os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link"))
	t.Chdir(dir)
	c := Discover([]string{"link"})
	realDir, _ := filepath.EvalSymlinks(filepath.Join(dir, "real"))
	if len(c.Dirs) != 1 || c.Dirs[0] != realDir {
		t.Errorf("dirs %v, want %s", c.Dirs, realDir)
	}
	if len(c.Plugins) != 1 || c.Plugins[0].EntryPath != filepath.Join(realDir, "redact", "entry.bin") {
		t.Fatalf("plugins %v", c.Plugins)
	}
	os.WriteFile(filepath.Join(dir, "real", "redact", "entry.bin"), []byte("swapped after discovery"), 0o644)
	rp, ok, err := Resolver{Catalog: c}.Resolve(nil, "redact", "")
	if err != nil || !ok || rp.SHA256 != hex.EncodeToString(sha(t, []byte("v1"))) || !filepath.IsAbs(rp.Entry) {
		t.Errorf("resolved %+v %v; want the pin of the bytes discovered (v1), an absolute entry", rp, err)
	}
}

// TestSSHSignatureFromSSHKeygen: a plugin signed with OpenSSH's ssh-keygen
// -Y sign (testdata/sshkeygen, see its README) verifies in pure Go; a
// changed entry is reported as what differs.
func TestSSHSignatureFromSSHKeygen(t *testing.T) {
	keys, err := LoadPublicKeys("testdata/sshkeygen/team.pub")
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadManifest("testdata/sshkeygen/redact/plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v := Check(p, keys)
	if v.Err != nil || v.Key.Name != "team" || v.Legacy || len(v.Signed) != 2 || v.Signed["redact.wasm"] != p.SHA256 {
		t.Fatalf("check = %+v", v)
	}
	// Tampered copy.
	dir := t.TempDir()
	for _, f := range []string{"plugin.yaml", "redact.wasm", SumsName, SignatureName} {
		b, _ := os.ReadFile(filepath.Join("testdata/sshkeygen/redact", f))
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "redact.wasm"), []byte("evil"), 0o644)
	q, _ := LoadManifest(filepath.Join(dir, ManifestName))
	v = Check(q, keys)
	if v.Err == nil || len(v.Differs) != 1 || !strings.HasPrefix(v.Differs[0], "redact.wasm: sha256 "+q.SHA256+", signed "+p.SHA256) {
		t.Errorf("tampered: %+v", v)
	}
	// The checksum list edited to match: the signature over it breaks.
	os.WriteFile(filepath.Join(dir, SumsName), sums(q), 0o644)
	if v = Check(q, keys); v.Err == nil || !strings.Contains(v.Err.Error(), "signature does not match plugin.sha256") {
		t.Errorf("edited checksum list: %v", v.Err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStandardToolVerifiesPipeSignature: ssh-keygen -Y verify accepts what
// pipe plugins sign writes, sha256sum -c accepts its checksum list, and
// ssh-keygen -l prints the fingerprint pipe shows.
func TestStandardToolVerifiesPipeSignature(t *testing.T) {
	sshKeygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen is not installed (Debian package openssh-client; make fixtures installs it): cannot run the standard-tool check")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "team")
	if err := Keygen(key, "team"); err != nil {
		t.Fatal(err)
	}
	pd := writePlugin(t, dir, "redact", manifest("redact", "1.0.0", ">=1.0"), "bytes")
	if _, err := Sign(pd, key); err != nil {
		t.Fatal(err)
	}
	pub := strings.TrimSpace(string(mustRead(t, key+".pub")))
	allowed := filepath.Join(dir, "allowed_signers")
	os.WriteFile(allowed, []byte(`team namespaces="pipe-plugin" `+pub+"\n"), 0o644)
	cmd := exec.Command(sshKeygen, "-Y", "verify", "-f", allowed, "-I", "team", "-n", Namespace, "-s", filepath.Join(pd, SignatureName))
	cmd.Stdin = bytes.NewReader(mustRead(t, filepath.Join(pd, SumsName)))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `Good "pipe-plugin" signature for team`) {
		t.Errorf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
	if sum, err := exec.LookPath("sha256sum"); err == nil {
		c := exec.Command(sum, "-c", SumsName)
		c.Dir = pd
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
	k, _ := LoadPublicKey(key + ".pub")
	if out, err := exec.Command(sshKeygen, "-l", "-f", key+".pub").Output(); err != nil || !strings.Contains(string(out), k.Fingerprint()) {
		t.Errorf("ssh-keygen -l: %v %s, want %s", err, out, k.Fingerprint())
	}
	// And the other way: ssh-keygen signs with pipe's key, pipe verifies.
	os.Remove(filepath.Join(pd, SignatureName))
	if out, err := exec.Command(sshKeygen, "-Y", "sign", "-f", key, "-n", Namespace, filepath.Join(pd, SumsName)).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign with a pipe key: %v\n%s", err, out)
	}
	os.Rename(filepath.Join(pd, SumsName+".sig"), filepath.Join(pd, SignatureName))
	p, _ := LoadManifest(filepath.Join(pd, ManifestName))
	if v := Check(p, []Key{k}); v.Err != nil {
		t.Errorf("pipe check of an ssh-keygen signature: %v", v.Err)
	}
	// A signature of another namespace does not count.
	os.Remove(filepath.Join(pd, SignatureName))
	exec.Command(sshKeygen, "-Y", "sign", "-f", key, "-n", "file", filepath.Join(pd, SumsName)).Run()
	os.Rename(filepath.Join(pd, SumsName+".sig"), filepath.Join(pd, SignatureName))
	if v := Check(p, []Key{k}); v.Err == nil || !strings.Contains(v.Err.Error(), `namespace "file"`) {
		t.Errorf("signature of namespace file: %v", v.Err)
	}
}

// TestLegacySignatureStillRead: a plugin signed in pipe 0.x's format with
// a 0.x key verifies for one more release, marked Legacy (the CLI warns).
func TestLegacySignatureStillRead(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := filepath.Join(dir, "old.pub")
	os.WriteFile(keyFile, []byte(legacyPub+base64.StdEncoding.EncodeToString(pub)+" old-team\n"), 0o644)
	pd := writePlugin(t, dir, "redact", manifest("redact", "1.0.0", ">=1.0"), "bytes")
	msg := "pipe plugin signature v1\n" + hex.EncodeToString(sha(t, mustRead(t, filepath.Join(pd, ManifestName)))) + " plugin.yaml\n" +
		hex.EncodeToString(sha(t, []byte("bytes"))) + " entry.bin\n"
	os.WriteFile(filepath.Join(pd, SignatureName), []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(msg)))+"\n"), 0o644)
	k, err := LoadPublicKey(keyFile)
	if err != nil || !k.Legacy || k.Name != "old-team" {
		t.Fatalf("legacy key: %+v %v", k, err)
	}
	p, _ := LoadManifest(filepath.Join(pd, ManifestName))
	v := Check(p, []Key{k})
	if v.Err != nil || !v.Legacy || v.Key.Name != "old-team" {
		t.Errorf("legacy signature: %+v", v)
	}
	os.WriteFile(filepath.Join(pd, "entry.bin"), []byte("evil"), 0o644)
	p, _ = LoadManifest(filepath.Join(pd, ManifestName))
	if v := Check(p, []Key{k}); v.Err == nil {
		t.Error("a tampered legacy-signed plugin verified")
	}
	// A legacy private key still signs, in the new format.
	legacyPrivFile := filepath.Join(dir, "old")
	os.WriteFile(legacyPrivFile, []byte(legacyPriv+base64.StdEncoding.EncodeToString(priv.Seed())+" old-team\n"), 0o600)
	if _, err := Sign(pd, legacyPrivFile); err != nil {
		t.Fatal(err)
	}
	p, _ = LoadManifest(filepath.Join(pd, ManifestName))
	if v := Check(p, []Key{k}); v.Err != nil || v.Legacy {
		t.Errorf("re-signed with the old key: %+v", v)
	}
}

// TestThreatModelClaimsAreTested: every test README.md cites for a claim
// exists, and every numbered claim of what pipe defends against cites one.
func TestThreatModelClaimsAreTested(t *testing.T) {
	readme := string(mustRead(t, "README.md"))
	defined := map[string]bool{}
	def := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			for _, m := range def.FindAllStringSubmatch(string(mustRead(t, path)), -1) {
				defined[m[1]] = true
			}
		}
		return nil
	})
	cited := regexp.MustCompile(`\bTest\w+`).FindAllString(readme, -1)
	if len(cited) < 10 {
		t.Fatalf("README cites %d tests", len(cited))
	}
	for _, name := range cited {
		if !defined[name] {
			t.Errorf("README.md cites %s, which no test file defines", name)
		}
	}
	defends := readme[strings.Index(readme, "### What pipe defends against"):strings.Index(readme, "### What pipe does not defend against")]
	claims := regexp.MustCompile(`(?m)^\d+\. `).Split(defends, -1)[1:]
	if len(claims) < 6 {
		t.Fatalf("found %d numbered claims in the threat model", len(claims))
	}
	for _, claim := range claims {
		if !strings.Contains(claim, "(Test") {
			t.Errorf("claim without a test: %.80s...", claim)
		}
	}
}

// TestSignWithOtherKeyTypes: an RSA or ECDSA OpenSSH key (as ssh-keygen
// makes them) signs too, and ssh-keygen verifies the RSA one (rsa-sha2-512).
func TestSignWithOtherKeyTypes(t *testing.T) {
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, key := range map[string]any{"ecdsa": ec, "rsa": rk} {
		block, err := ssh.MarshalPrivateKey(key, name)
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(dir, name)
		os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
		signer, _ := ssh.NewSignerFromKey(key)
		os.WriteFile(keyFile+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
		pd := writePlugin(t, dir, "p-"+name, manifest("p", "1.0.0", ">=1.0"), "bytes")
		if _, err := Sign(pd, keyFile); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		k, err := LoadPublicKey(keyFile + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		p, _ := LoadManifest(filepath.Join(pd, ManifestName))
		if v := Check(p, []Key{k}); v.Err != nil {
			t.Errorf("%s: %v", name, v.Err)
		}
		if sk, err := exec.LookPath("ssh-keygen"); err == nil {
			allowed := filepath.Join(dir, name+".allowed")
			os.WriteFile(allowed, append([]byte("team "), ssh.MarshalAuthorizedKey(signer.PublicKey())...), 0o644)
			cmd := exec.Command(sk, "-Y", "verify", "-f", allowed, "-I", "team", "-n", Namespace, "-s", filepath.Join(pd, SignatureName))
			cmd.Stdin = bytes.NewReader(mustRead(t, filepath.Join(pd, SumsName)))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: ssh-keygen -Y verify: %v\n%s", name, err, out)
			}
		}
	}
}
