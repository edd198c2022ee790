package plugins

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Signatures are SSH signatures (the SSHSIG format of OpenSSH's
// `ssh-keygen -Y sign`) in the namespace "pipe-plugin" over a checksum list,
// plugin.sha256, in the format of sha256sum: the manifest and the entry
// file, one "HEX  NAME" line each. Both can be checked by standard tools:
//
//	sha256sum -c plugin.sha256 &&
//	ssh-keygen -Y verify -f allowed_signers -I team -n pipe-plugin -s plugin.sig < plugin.sha256
//
// Keys are OpenSSH keys: `pipe plugins keygen` writes an unencrypted
// ed25519 private key and its authorized_keys-format .pub; `pipe plugins
// sign` also takes a key made by ssh-keygen (unencrypted). The format of
// pipe 0.x (a base64 ed25519 signature over a pipe-specific message, keys
// starting "pipe-ed25519") is still read, with a deprecation warning, for
// one release.

// SignatureName is the file holding a plugin's detached signature.
const SignatureName = "plugin.sig"

// SumsName is the checksum list a signature covers.
const SumsName = "plugin.sha256"

// Namespace is the SSH signature namespace of plugin signatures (ssh-keygen
// -Y sign/verify -n).
const Namespace = "pipe-plugin"

// ErrUnsigned means a plugin has no signature file.
var ErrUnsigned = errors.New("unsigned")

// ErrNoTrustedKey means a plugin has a signature but no key is trusted to
// check it: neither valid nor invalid.
var ErrNoTrustedKey = errors.New("signed, not verified: no key is trusted (--trust KEYFILE)")

// Key is a public key trusted to sign plugins.
type Key struct {
	Name string // the key's comment or principal, or its file name
	Pub  ssh.PublicKey
	// Legacy is true for a key file in pipe 0.x's own format.
	Legacy bool
}

// Fingerprint is the key's SHA256 fingerprint as ssh-keygen -l prints it.
func (k Key) Fingerprint() string { return ssh.FingerprintSHA256(k.Pub) }

// Legacy key formats (read for one release).
const (
	legacyPub  = "pipe-ed25519 "
	legacyPriv = "pipe-ed25519-private "
)

// Keygen writes a new ed25519 key pair: the OpenSSH private key to path
// (mode 0600, unencrypted) and the public key to path.pub in
// authorized_keys format, with name as its comment.
func Keygen(path, name string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if name == "" {
		name = filepath.Base(path)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		return err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	line := bytes.TrimSpace(ssh.MarshalAuthorizedKey(sp))
	return os.WriteFile(path+".pub", append(append(line, ' '), name+"\n"...), 0o644)
}

// KeyError is a key file that cannot be used: missing, unreadable, or not
// a key of the kind wanted.
type KeyError struct {
	Path string
	Err  error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// LoadPublicKeys reads the keys of a public key file: an OpenSSH .pub or
// authorized_keys file, an allowed_signers file (PRINCIPAL [OPTIONS] KEY),
// or a legacy pipe-ed25519 key. Empty lines and # comments are skipped.
func LoadPublicKeys(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &KeyError{path, err}
	}
	var keys []Key
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parsePublicKeyLine(line)
		if err != nil {
			return nil, &KeyError{path, fmt.Errorf("%s:%d: %w", path, i+1, err)}
		}
		if k.Name == "" {
			k.Name = filepath.Base(path)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, &KeyError{path, fmt.Errorf("%s: no public key in the file (want an OpenSSH public key line such as \"ssh-ed25519 AAAA... team\")", path)}
	}
	return keys, nil
}

// LoadPublicKey reads the first key of a public key file (LoadPublicKeys).
func LoadPublicKey(path string) (Key, error) {
	keys, err := LoadPublicKeys(path)
	if err != nil {
		return Key{}, err
	}
	return keys[0], nil
}

func parsePublicKeyLine(line string) (Key, error) {
	if rest, ok := strings.CutPrefix(line, legacyPub); ok {
		b64, name, _ := strings.Cut(rest, " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return Key{}, errors.New("malformed key")
		}
		pub, err := ssh.NewPublicKey(ed25519.PublicKey(raw))
		if err != nil {
			return Key{}, err
		}
		return Key{Name: strings.TrimSpace(name), Pub: pub, Legacy: true}, nil
	}
	if strings.HasPrefix(line, legacyPriv) || strings.HasPrefix(line, "-----BEGIN") {
		return Key{}, errors.New("this is a private key; trust the public key (the .pub file)")
	}
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err == nil {
		return Key{Name: comment, Pub: pub}, nil
	}
	// allowed_signers: PRINCIPALS [OPTIONS] KEYTYPE KEY [COMMENT]
	principals, rest, ok := strings.Cut(line, " ")
	if ok {
		if pub, _, _, _, err2 := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest))); err2 == nil {
			name, _, _ := strings.Cut(principals, ",")
			return Key{Name: name, Pub: pub}, nil
		}
	}
	return Key{}, fmt.Errorf("not a public key (want an OpenSSH public key line such as \"ssh-ed25519 AAAA... team\"): %v", err)
}

// loadSigner reads a private key: an unencrypted OpenSSH (or PEM) private
// key, or a legacy pipe-ed25519-private key.
func loadSigner(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &KeyError{path, err}
	}
	var raw any
	if rest, ok := strings.CutPrefix(strings.TrimSpace(string(data)), legacyPriv); ok {
		b64, _, _ := strings.Cut(rest, " ")
		seed, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, &KeyError{path, fmt.Errorf("%s: malformed key", path)}
		}
		raw = ed25519.NewKeyFromSeed(seed)
	} else if raw, err = ssh.ParseRawPrivateKey(data); err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, &KeyError{path, fmt.Errorf("%s: the key is passphrase-protected: sign with ssh-keygen -Y sign -n %s -f %s %s (see the plugins docs)", path, Namespace, path, SumsName)}
		}
		return nil, &KeyError{path, fmt.Errorf("%s: not a private key file (want an OpenSSH private key, as pipe plugins keygen or ssh-keygen write): %v", path, err)}
	}
	signer, err := ssh.NewSignerFromKey(raw)
	if err != nil {
		return nil, &KeyError{path, err}
	}
	return signer, nil
}

// sums is the checksum list of p: its manifest and its entry file, with the
// SHA-256s recorded when p was loaded.
func sums(p *Plugin) []byte {
	return fmt.Appendf(nil, "%s  %s\n%s  %s\n", p.ManifestSHA256, ManifestName, p.SHA256, filepath.ToSlash(p.entryRel()))
}

// Sign writes DIR/plugin.sha256 and DIR/plugin.sig (an SSH signature in
// the pipe-plugin namespace) for the plugin in dir with the private key at
// keyPath.
func Sign(dir, keyPath string) (*Plugin, error) {
	p, err := LoadManifest(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	signer, err := loadSigner(keyPath)
	if err != nil {
		return nil, err
	}
	msg := sums(p)
	sig, err := sshSign(signer, msg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.Dir, SumsName), msg, 0o644); err != nil {
		return nil, err
	}
	return p, os.WriteFile(filepath.Join(p.Dir, SignatureName), sig, 0o644)
}

// Verification is what checking a plugin's signature found.
type Verification struct {
	// Key signed the plugin (valid when Err is nil).
	Key Key
	// Signer is the key the signature names, trusted or not (nil for the
	// legacy format, whose signature does not name its key).
	Signer ssh.PublicKey
	// Signed lists the files the signature covers, as NAME -> hex SHA-256.
	Signed map[string]string
	// Differs lists the signed files whose contents changed since signing,
	// and files the signature should cover but does not, one line each.
	Differs []string
	// Legacy is true for a signature in pipe 0.x's format (deprecated).
	Legacy bool
	// Err is nil when the signature is valid for a trusted key; ErrUnsigned,
	// ErrNoTrustedKey, or why not.
	Err error
}

// Verify checks p's signature against keys and returns the key that signed
// it. ErrUnsigned when there is no signature file, ErrNoTrustedKey when
// keys is empty; another error when the signature does not match the files
// (tampered) or no trusted key signed it. It checks the SHA-256s recorded
// when p was loaded, so a valid signature is about the bytes the plugin's
// pin (Plugin.SHA256) names.
func Verify(p *Plugin, keys []Key) (Key, error) {
	v := Check(p, keys)
	return v.Key, v.Err
}

// Check is Verify with the details: who signed, what the signature covers
// and what differs.
func Check(p *Plugin, keys []Key) Verification {
	raw, err := os.ReadFile(filepath.Join(p.Dir, SignatureName))
	if errors.Is(err, os.ErrNotExist) {
		return Verification{Err: ErrUnsigned}
	}
	if err != nil {
		return Verification{Err: err}
	}
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte(armorBegin)) {
		return checkLegacy(p, keys, raw)
	}
	v := Verification{Signed: map[string]string{}}
	msg, err := os.ReadFile(filepath.Join(p.Dir, SumsName))
	if err != nil {
		v.Err = fmt.Errorf("%s without %s: %w", SignatureName, SumsName, err)
		return v
	}
	signer, err := sshVerify(raw, msg)
	v.Signer = signer
	if err != nil {
		v.Err = err
		return v
	}
	// What the list says against what the files hold now.
	want := map[string]string{ManifestName: p.ManifestSHA256, filepath.ToSlash(p.entryRel()): p.SHA256}
	for _, line := range strings.Split(strings.TrimRight(string(msg), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			v.Err = fmt.Errorf("%s: malformed line %q (want \"HEX  NAME\")", SumsName, line)
			return v
		}
		v.Signed[name] = sum
	}
	for _, name := range slices.Sorted(mapKeys(want)) {
		sum, ok := v.Signed[name]
		switch {
		case !ok:
			v.Differs = append(v.Differs, fmt.Sprintf("%s: not covered by the signature (sha256 %s)", name, want[name]))
		case sum != want[name]:
			v.Differs = append(v.Differs, fmt.Sprintf("%s: sha256 %s, signed %s", name, want[name], sum))
		}
	}
	for _, name := range slices.Sorted(mapKeys(v.Signed)) {
		if _, ok := want[name]; !ok {
			v.Differs = append(v.Differs, fmt.Sprintf("%s: signed, but not the manifest or its entry", name))
		}
	}
	for _, k := range keys {
		if bytes.Equal(k.Pub.Marshal(), signer.Marshal()) {
			v.Key = k
			break
		}
	}
	switch {
	case len(keys) == 0:
		v.Err = ErrNoTrustedKey
	case v.Key.Pub == nil:
		v.Err = fmt.Errorf("signed by %s, which is not a trusted key", ssh.FingerprintSHA256(signer))
	case len(v.Differs) > 0:
		v.Err = fmt.Errorf("signature does not match the files (tampered since signing): %s", strings.Join(v.Differs, "; "))
	}
	return v
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkLegacy verifies a pipe 0.x signature: base64 ed25519 over
// "pipe plugin signature v1\n" and "HEX NAME" lines of the manifest and
// entry file.
func checkLegacy(p *Plugin, keys []Key, raw []byte) Verification {
	v := Verification{Legacy: true, Signed: map[string]string{}}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		v.Err = errors.New("malformed plugin.sig")
		return v
	}
	msg := fmt.Sprintf("pipe plugin signature v1\n%s %s\n%s %s\n", p.ManifestSHA256, filepath.Base(p.ManifestPath), p.SHA256, filepath.Base(p.EntryPath))
	for _, k := range keys {
		if ck, ok := k.Pub.(ssh.CryptoPublicKey); ok {
			if pub, ok := ck.CryptoPublicKey().(ed25519.PublicKey); ok && ed25519.Verify(pub, []byte(msg), sig) {
				v.Key = k
				v.Signed = map[string]string{ManifestName: p.ManifestSHA256, filepath.Base(p.EntryPath): p.SHA256}
				return v
			}
		}
	}
	if len(keys) == 0 {
		v.Err = ErrNoTrustedKey
		return v
	}
	v.Err = errors.New("signature does not match the manifest and entry file for any trusted key (tampered, or signed by another key)")
	return v
}

// The SSHSIG format (OpenSSH PROTOCOL.sshsig).
const (
	sigMagic   = "SSHSIG"
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
)

type sigBlob struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	HashAlg   string
	Signature []byte
}

type signedData struct {
	Namespace string
	Reserved  string
	HashAlg   string
	Hash      []byte
}

func toSign(msg []byte, alg string) ([]byte, error) {
	var h []byte
	switch alg {
	case "sha512":
		s := sha512.Sum512(msg)
		h = s[:]
	case "sha256":
		s := sha256.Sum256(msg)
		h = s[:]
	default:
		return nil, fmt.Errorf("signature hash algorithm %q is not supported", alg)
	}
	return append([]byte(sigMagic), ssh.Marshal(signedData{Namespace: Namespace, HashAlg: alg, Hash: h})...), nil
}

// sshSign returns the armored SSH signature of msg in the pipe-plugin
// namespace, as `ssh-keygen -Y sign -n pipe-plugin` makes it.
func sshSign(signer ssh.Signer, msg []byte) ([]byte, error) {
	data, err := toSign(msg, "sha512")
	if err != nil {
		return nil, err
	}
	var sig *ssh.Signature
	if as, ok := signer.(ssh.AlgorithmSigner); ok && signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		sig, err = as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = signer.Sign(rand.Reader, data)
	}
	if err != nil {
		return nil, err
	}
	blob := append([]byte(sigMagic), ssh.Marshal(sigBlob{Version: 1, PublicKey: signer.PublicKey().Marshal(),
		Namespace: Namespace, HashAlg: "sha512", Signature: ssh.Marshal(sig)})...)
	b64 := base64.StdEncoding.EncodeToString(blob)
	var out strings.Builder
	out.WriteString(armorBegin + "\n")
	for len(b64) > 70 {
		out.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	out.WriteString(b64 + "\n" + armorEnd + "\n")
	return []byte(out.String()), nil
}

// sshVerify checks an armored SSH signature over msg in the pipe-plugin
// namespace and returns the key it names (valid for that key; whether the
// key is trusted is the caller's question).
func sshVerify(armored, msg []byte) (ssh.PublicKey, error) {
	s := strings.TrimSpace(string(armored))
	s, ok := strings.CutPrefix(s, armorBegin)
	if s, ok = strings.CutSuffix(s, armorEnd); !ok {
		return nil, errors.New("malformed plugin.sig: not an SSH signature")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil || !bytes.HasPrefix(raw, []byte(sigMagic)) {
		return nil, errors.New("malformed plugin.sig: not an SSH signature")
	}
	var b sigBlob
	if err := ssh.Unmarshal(raw[len(sigMagic):], &b); err != nil {
		return nil, fmt.Errorf("malformed plugin.sig: %v", err)
	}
	if b.Version != 1 {
		return nil, fmt.Errorf("plugin.sig: SSH signature version %d is not supported", b.Version)
	}
	if b.Namespace != Namespace {
		return nil, fmt.Errorf("plugin.sig: the signature is for namespace %q, not %q (sign with -n %s)", b.Namespace, Namespace, Namespace)
	}
	pub, err := ssh.ParsePublicKey(b.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("plugin.sig: %v", err)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(b.Signature, &sig); err != nil {
		return nil, fmt.Errorf("malformed plugin.sig: %v", err)
	}
	data, err := toSign(msg, b.HashAlg)
	if err != nil {
		return pub, err
	}
	if err := pub.Verify(data, &sig); err != nil {
		return pub, fmt.Errorf("signature does not match %s (tampered since signing)", SumsName)
	}
	return pub, nil
}
