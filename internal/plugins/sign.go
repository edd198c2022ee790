package plugins

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SignatureName is the file holding a plugin's detached signature.
const SignatureName = "plugin.sig"

// ErrUnsigned means a plugin has no signature file.
var ErrUnsigned = errors.New("unsigned")

// ErrNoTrustedKey means a plugin has a signature but no key is trusted to
// check it: neither valid nor invalid.
var ErrNoTrustedKey = errors.New("signed, not verified: no key is trusted (--trust KEYFILE)")

// Key is a public key trusted to sign plugins.
type Key struct {
	Name string // the key file's comment, or its file name
	Pub  ed25519.PublicKey
}

const (
	pubPrefix  = "pipe-ed25519 "
	privPrefix = "pipe-ed25519-private "
)

// Keygen writes a new key pair: the private key to path (mode 0600) and
// the public key to path.pub, labelled with name.
func Keygen(path, name string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if name == "" {
		name = filepath.Base(path)
	}
	if err := os.WriteFile(path, []byte(privPrefix+base64.StdEncoding.EncodeToString(priv.Seed())+" "+name+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(path+".pub", []byte(pubPrefix+base64.StdEncoding.EncodeToString(pub)+" "+name+"\n"), 0o644)
}

// KeyError is a key file that cannot be used: missing, unreadable, or not
// a pipe key of the kind wanted.
type KeyError struct {
	Path string
	Err  error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

func readKeyLine(path, prefix string, size int) ([]byte, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", &KeyError{path, err}
	}
	line := strings.TrimSpace(string(data))
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return nil, "", &KeyError{path, fmt.Errorf("%s: not a pipe %s key file (want a line starting %q)", path, strings.TrimSpace(strings.TrimPrefix(prefix, "pipe-")), prefix)}
	}
	b64, name, _ := strings.Cut(rest, " ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != size {
		return nil, "", &KeyError{path, fmt.Errorf("%s: malformed key", path)}
	}
	if name == "" {
		name = filepath.Base(path)
	}
	return raw, name, nil
}

// LoadPublicKey reads a public key file written by Keygen.
func LoadPublicKey(path string) (Key, error) {
	raw, name, err := readKeyLine(path, pubPrefix, ed25519.PublicKeySize)
	if err != nil {
		return Key{}, err
	}
	return Key{Name: name, Pub: ed25519.PublicKey(raw)}, nil
}

func loadPrivateKey(path string) (ed25519.PrivateKey, error) {
	raw, _, err := readKeyLine(path, privPrefix, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(raw), nil
}

// message is what a signature covers: the manifest and the entry file, by
// their SHA-256.
func message(p *Plugin) ([]byte, error) {
	var b strings.Builder
	b.WriteString("pipe plugin signature v1\n")
	for _, f := range []string{p.ManifestPath, p.EntryPath} {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s %s\n", hex.EncodeToString(sum[:]), filepath.Base(f))
	}
	return []byte(b.String()), nil
}

// Sign writes DIR/plugin.sig for the plugin in dir with the private key at
// keyPath.
func Sign(dir, keyPath string) (*Plugin, error) {
	p, err := LoadManifest(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	priv, err := loadPrivateKey(keyPath)
	if err != nil {
		return nil, err
	}
	msg, err := message(p)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(priv, msg)
	return p, os.WriteFile(filepath.Join(dir, SignatureName), []byte(base64.StdEncoding.EncodeToString(sig)+"\n"), 0o644)
}

// Verify checks p's signature against keys and returns the key that signed
// it. ErrUnsigned when there is no signature file, ErrNoTrustedKey when
// keys is empty; another error when the signature does not match the files
// (tampered) or no key signed it.
func Verify(p *Plugin, keys []Key) (Key, error) {
	raw, err := os.ReadFile(filepath.Join(p.Dir, SignatureName))
	if errors.Is(err, os.ErrNotExist) {
		return Key{}, ErrUnsigned
	}
	if err != nil {
		return Key{}, err
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Key{}, errors.New("malformed plugin.sig")
	}
	msg, err := message(p)
	if err != nil {
		return Key{}, err
	}
	for _, k := range keys {
		if ed25519.Verify(k.Pub, msg, sig) {
			return k, nil
		}
	}
	if len(keys) == 0 {
		return Key{}, ErrNoTrustedKey
	}
	return Key{}, errors.New("signature does not match the manifest and entry file for any trusted key (tampered, or signed by another key)")
}
