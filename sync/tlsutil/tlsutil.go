// Package tlsutil owns the two pieces of TLS set-up Lifeboat needs in more
// than one place: the client configuration every outgoing connection uses
// (IMAP in sync/imapconn, SMTP submission in sync/smtpsend, the probes of
// sync/health), and the self-signed server certificate of the local relay
// (sync/relay), which the test servers of sync/testenv use too.
//
// Invariants:
//
//   - A client configuration always verifies the server: ClientConfig never
//     sets InsecureSkipVerify, ServerName is the host dialled, and the
//     version is TLS 1.2 or later. A CA file adds trust (a self-signed
//     Proton Bridge, a test server) on top of the system's roots; it never
//     replaces verification. A CA file that cannot be read or holds no
//     certificate is an error naming the file, never a silent fallback to
//     the system roots alone.
//   - SelfSigned makes an end-entity certificate (not a CA: Thunderbird's
//     NSS refuses a CA certificate as a server's), ECDSA P-256, for server
//     authentication, with every name as a DNS or IP subject alternative
//     name; the certificate is its own trust anchor, so its PEM serves as
//     the CA file clients are given.
//
// The package does not import "testing": the product binary links it.
package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// MinVersion is the oldest TLS version Lifeboat speaks as a client.
const MinVersion = tls.VersionTLS12

// ClientConfig returns a verifying client configuration for host: ServerName
// host, TLS 1.2 or later, and, when caFile is not "", the system's roots
// plus every certificate in the PEM file caFile (tls_ca_file in the
// configuration). Without caFile, RootCAs is nil: the system's roots.
func ClientConfig(host, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: MinVersion}
	if caFile == "" {
		return cfg, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system store (some Windows set-ups): the file alone
	}
	if err := appendCAFile(pool, caFile); err != nil {
		return nil, err
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// appendCAFile adds the certificates of the PEM file caFile to pool.
func appendCAFile(pool *x509.CertPool, caFile string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("tls_ca_file cannot be read: %w", err) // *fs.PathError: names the file
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("tls_ca_file %s holds no PEM certificate", caFile)
	}
	return nil
}
