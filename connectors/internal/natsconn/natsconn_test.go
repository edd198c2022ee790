package natsconn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/pipe-dev/pipe/internal/natstest"
)

func cfg(url string) *Config {
	return &Config{URLs: []string{url}, ConnectTimeout: 2 * time.Second, ReconnectWait: 10 * time.Millisecond, MaxReconnectWait: 50 * time.Millisecond}
}

// Each way of authenticating connects with the right secret and fails at
// once (no retrying until connect_timeout) with a wrong one.
func TestAuth(t *testing.T) {
	user, _ := nkeys.CreateUser()
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.nk"), filepath.Join(dir, "bad.nk")
	os.WriteFile(good, seed, 0o600)
	os.WriteFile(bad, otherSeed, 0o600)

	for _, c := range []struct {
		name        string
		opts        natstest.Options
		right, want func(*Config)
	}{
		{"token", natstest.Options{Token: "s3cret"},
			func(c *Config) { c.Token = "s3cret" }, func(c *Config) { c.Token = "nope" }},
		{"user", natstest.Options{User: "u", Password: "p"},
			func(c *Config) { c.User, c.Password = "u", "p" }, func(c *Config) { c.User, c.Password = "u", "x" }},
		{"nkey", natstest.Options{NKey: pub},
			func(c *Config) { c.NKeyFile = good }, func(c *Config) { c.NKeyFile = bad }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := natstest.Start(t, c.opts)
			ok := cfg(s.URL)
			c.right(ok)
			conn, err := Connect(context.Background(), ok, nil)
			if err != nil {
				t.Fatalf("right secret: %v", err)
			}
			if err := conn.Healthy(); err != nil {
				t.Errorf("healthy after connect: %v", err)
			}
			conn.Close()
			if conn.Healthy() == nil {
				t.Error("healthy after close")
			}
			wrong := cfg(s.URL)
			wrong.ConnectTimeout = time.Hour
			c.want(wrong)
			start := time.Now()
			if _, err := Connect(context.Background(), wrong, nil); !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("wrong secret: %v, want an authorization error", err)
			}
			if time.Since(start) > 30*time.Second {
				t.Error("an authorization error was retried")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		key string
		set func(*Config)
	}{
		{"", func(*Config) {}},
		{"urls", func(c *Config) { c.URLs = nil }},
		{"creds_file", func(c *Config) { c.Token, c.NKeyFile = "t", "f" }},
		{"password", func(c *Config) { c.Password = "p" }},
		{"tls", func(c *Config) { c.TLS = &TLS{CertFile: "c"} }},
	} {
		cf := cfg("nats://127.0.0.1:4222")
		c.set(cf)
		if key, err := cf.Validate(func(p string) string { return "/base/" + p }); key != c.key || (err == nil) != (c.key == "") {
			t.Errorf("%s: key %q, %v", c.key, key, err)
		}
	}
	cf := cfg("nats://127.0.0.1:4222")
	cf.CredsFile = "x.creds"
	cf.Validate(func(p string) string { return "/base/" + p })
	if cf.CredsFile != "/base/x.creds" {
		t.Errorf("creds_file not resolved against the pipeline file: %s", cf.CredsFile)
	}
}

func TestBackoffAndRedact(t *testing.T) {
	for n := 1; n < 20; n++ {
		d := Backoff(n, 100*time.Millisecond, 2*time.Second)
		if d < 80*time.Millisecond || d > 2400*time.Millisecond {
			t.Errorf("attempt %d: %v outside [80ms, 2.4s]", n, d)
		}
	}
	if got := redact("nats://u:secret@h:4222,nats://h2:4222"); got != "nats://[redacted]@h:4222,nats://h2:4222" {
		t.Errorf("redact = %s", got)
	}
}
