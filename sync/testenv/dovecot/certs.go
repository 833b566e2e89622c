package dovecot

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// certFiles names the PEM files of the test certificate inside the state
// directory.
type certFiles struct {
	CA   string // what clients trust (tls_ca_file): a copy of Cert, its own anchor
	Cert string // server certificate (tlsutil.SelfSigned)
	Key  string // server private key (PKCS #8)
}

// ensureCerts creates a self-signed server certificate for localhost,
// 127.0.0.1 and ::1, unless a usable set from an earlier Start on the same
// directory is already there (so that clients which pinned the CA keep
// working across a restart). A set an earlier version left (a CA and a
// server certificate signed by it) is usable too.
func ensureCerts(f certFiles) error {
	if certsUsable(f) {
		return nil
	}
	return generateCerts(f)
}

// certsUsable reports whether Cert and Key match and CA makes Cert trusted
// for localhost for at least another day.
func certsUsable(f certFiles) bool {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return false
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return false
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		DNSName:     "localhost",
		Roots:       pool,
		CurrentTime: time.Now().Add(24 * time.Hour),
	})
	return err == nil
}

func generateCerts(f certFiles) error {
	certPEM, keyPEM, err := tlsutil.SelfSigned("localhost", []string{"localhost", "127.0.0.1", "::1"}, 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := writeFile(f.Key, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(f.Cert, certPEM, 0o644); err != nil {
		return err
	}
	return writeFile(f.CA, certPEM, 0o644)
}

// writeFile replaces path with data atomically (a reader never sees half a
// PEM file).
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// clientTLSConfig returns the verifying client configuration
// (tlsutil.ClientConfig) that trusts caFile and expects the server name
// "localhost".
func clientTLSConfig(caFile string) (*tls.Config, error) {
	cfg, err := tlsutil.ClientConfig("localhost", caFile)
	if err != nil {
		return nil, fmt.Errorf("testenv/dovecot: %w", err)
	}
	return cfg, nil
}
