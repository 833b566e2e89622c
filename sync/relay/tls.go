package relay

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// TLSConfig is the relay's STARTTLS certificate.
type TLSConfig struct {
	Config   *tls.Config
	CertFile string // PEM, to give mail programs that must trust it
	// Fingerprint is the SHA-256 of the certificate (hex, colon-separated
	// pairs, as msmtp's tls_fingerprint and browsers show it).
	Fingerprint string
}

// LoadOrCreateTLS loads the relay's self-signed certificate from dir, or
// makes one (sync/tlsutil.SelfSigned: ECDSA P-256, ten years, names
// localhost, 127.0.0.1, ::1 and hosts). A certificate made by an earlier
// version (its key in SEC 1 "EC PRIVATE KEY" form) loads as before: mail
// programs that pinned it keep trusting the relay.
func LoadOrCreateTLS(dir string, hosts ...string) (*TLSConfig, error) {
	certFile, keyFile := filepath.Join(dir, "relay-cert.pem"), filepath.Join(dir, "relay-key.pem")
	if _, err := os.Stat(certFile); errors.Is(err, fs.ErrNotExist) {
		if err := makeCert(certFile, keyFile, hosts); err != nil {
			return nil, err
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("the relay's certificate %s: %w (remove it and its key %s; a new one is made)", certFile, err, keyFile)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	pairs := make([]string, len(sum))
	for i, b := range sum {
		pairs[i] = fmt.Sprintf("%02X", b)
	}
	return &TLSConfig{Config: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, CertFile: certFile,
		Fingerprint: strings.Join(pairs, ":")}, nil
}

// makeCert writes a new self-signed certificate (sync/tlsutil.SelfSigned)
// and its key, both readable by the user only.
func makeCert(certFile, keyFile string, hosts []string) error {
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return err
	}
	names := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
	certPEM, keyPEM, err := tlsutil.SelfSigned("Lifeboat local relay", names, time.Until(time.Now().AddDate(10, 0, 0)))
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, certPEM, 0o600)
}
