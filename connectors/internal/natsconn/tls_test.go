package natsconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/internal/natstest"
)

// writeCert makes a CA and a server certificate for 127.0.0.1 signed by
// it; it returns the paths of the CA, the server certificate and its key.
func writeCert(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pipe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	caCert, _ := x509.ParseCertificate(caDER)
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return ca, cert, key
}

// A TLS server: the client trusting its CA connects; one that does not
// fails at once with the certificate error.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeCert(t, dir)
	s := natstest.Start(t, natstest.Options{Extra: fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n}\n", cert, key)})
	c := cfg(s.URL)
	c.TLS = &TLS{CAFile: ca}
	conn, err := Connect(context.Background(), c, nil)
	if err != nil {
		t.Fatalf("trusting the CA: %v", err)
	}
	if !conn.TLSRequired() {
		t.Error("connection without TLS")
	}
	conn.Close()

	c = cfg(s.URL)
	c.TLS = &TLS{}
	c.ConnectTimeout = time.Hour // a certificate error is not retried
	if _, err := Connect(context.Background(), c, nil); err == nil || !Permanent(err) {
		t.Errorf("not trusting the CA: %v, want a permanent certificate error", err)
	}
}
