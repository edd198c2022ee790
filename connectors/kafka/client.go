// Package kafka is the kafka input and output, on franz-go: a consumer-group
// member that commits an offset only after the pipeline delivered the
// records before it, and an idempotent producer (acks=all).
//
// The only Kafka-protocol server available where pipe is developed is
// franz-go's kfake package (an in-memory Kafka implementation); the tests
// run against it, not against Apache Kafka or Redpanda.
//
// # Delivery
//
// At least once. The engine acknowledges batches in read order; the
// acknowledgement of a delivered batch marks its records' offsets, and the
// client commits marked offsets every commit_interval, when partitions are
// revoked (after the batches read from them were acknowledged, bounded by
// the rebalance timeout) and on close. A committed offset is never ahead
// of what the output delivered; records delivered after the last commit
// are read again after a crash or a rebalance.
//
// # Order
//
// Records of one partition are handed to the pipeline in offset order, and
// the engine keeps that order to the output.
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// ConnConfig are the connection fields of a kafka input or output.
type ConnConfig struct {
	Brokers        []string      `yaml:"brokers" required:"true" example:"[127.0.0.1:9092]" doc:"Seed brokers (host:port)."`
	ClientID       string        `yaml:"client_id" doc:"The client id the brokers see (default: pipe)."`
	SASL           *SASL         `yaml:"sasl" doc:"SASL authentication."`
	TLS            *TLS          `yaml:"tls" doc:"TLS settings (TLS is on when this is given)."`
	ConnectTimeout time.Duration `yaml:"connect_timeout" default:"10s" doc:"How long the first connection is retried before the run fails; 0: one attempt."`
}

// SASL are the SASL settings.
type SASL struct {
	Mechanism string `yaml:"mechanism" default:"PLAIN" enum:"PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" doc:"The SASL mechanism."`
	User      string `yaml:"user" required:"true" doc:"The user."`
	Password  string `yaml:"password" doc:"The password (write ${KAFKA_PASSWORD})."`
}

// TLS are the TLS settings.
type TLS struct {
	CAFile             string `yaml:"ca_file" doc:"PEM file of the CAs that sign the brokers' certificates (default: the system's)."`
	CertFile           string `yaml:"cert_file" doc:"PEM client certificate."`
	KeyFile            string `yaml:"key_file" doc:"PEM key of cert_file."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" default:"false" doc:"Do not verify the brokers' certificates (tests only)."`
}

func (c *ConnConfig) validate(resolve func(string) string) (string, error) {
	if len(c.Brokers) == 0 {
		return "brokers", errors.New("at least one broker is needed")
	}
	if c.SASL != nil && c.SASL.User == "" {
		return "sasl", errors.New("sasl needs user")
	}
	if t := c.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return "tls", errors.New("cert_file and key_file go together")
		}
		if resolve != nil {
			for _, p := range []*string{&t.CAFile, &t.CertFile, &t.KeyFile} {
				if *p != "" {
					*p = resolve(*p)
				}
			}
		}
	}
	return "", nil
}

func (c *ConnConfig) options() ([]kgo.Opt, error) {
	id := c.ClientID
	if id == "" {
		id = "pipe"
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(id)}
	if s := c.SASL; s != nil {
		switch s.Mechanism {
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism()))
		default:
			opts = append(opts, kgo.SASL(plain.Auth{User: s.User, Pass: s.Password}.AsMechanism()))
		}
	}
	if t := c.TLS; t != nil {
		cfg := &tls.Config{InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tls ca_file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls ca_file %s: no PEM certificate in it", t.CAFile)
			}
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("tls cert_file: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	return opts, nil
}
