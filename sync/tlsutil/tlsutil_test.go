package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func parse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, rest := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("not one PEM certificate: %q", certPEM)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelfSigned(t *testing.T) {
	certPEM, keyPEM, err := SelfSigned("Lifeboat test", []string{"localhost", "127.0.0.1", "::1", "", "localhost", "127.0.0.1", "mail.example"}, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := parse(t, certPEM)
	if c.Subject.CommonName != "Lifeboat test" {
		t.Errorf("CN %q", c.Subject.CommonName)
	}
	if got := strings.Join(c.DNSNames, ","); got != "localhost,mail.example" {
		t.Errorf("DNS names %s", got)
	}
	if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses %v", c.IPAddresses)
	}
	if c.IsCA || !c.BasicConstraintsValid {
		t.Error("not marked as an end entity (CA:FALSE)")
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature || len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("key usage %v %v", c.KeyUsage, c.ExtKeyUsage)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", c.PublicKey)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v", c.SerialNumber)
	}
	if d := time.Until(c.NotAfter); d < 47*time.Hour || d > 48*time.Hour {
		t.Errorf("valid for %s more", d)
	}
	if !c.NotBefore.Before(time.Now().Add(-30 * time.Minute)) {
		t.Errorf("not valid before %s: no margin for clock skew", c.NotBefore)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("key PEM %q", keyPEM)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	// The certificate is its own anchor, for every name and for no other.
	roots := x509.NewCertPool()
	roots.AddCert(c)
	for _, h := range []string{"localhost", "mail.example", "127.0.0.1", "::1"} {
		if _, err := c.Verify(x509.VerifyOptions{DNSName: h, Roots: roots}); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: roots}); err == nil {
		t.Error("verified for a name it does not hold")
	}

	other, _, err := SelfSigned("Lifeboat test", []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if parse(t, other).SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}

func TestSelfSignedRefuses(t *testing.T) {
	if _, _, err := SelfSigned("x", nil, time.Hour); err == nil {
		t.Error("a certificate without names")
	}
	if _, _, err := SelfSigned("x", []string{""}, time.Hour); err == nil {
		t.Error("a certificate with only an empty name")
	}
	if _, _, err := SelfSigned("x", []string{"localhost"}, 0); err == nil {
		t.Error("a certificate valid for no time")
	}
}

func TestClientConfigWithoutCA(t *testing.T) {
	cfg, err := ClientConfig("imap.example", "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != "imap.example" || cfg.MinVersion != tls.VersionTLS12 || cfg.RootCAs != nil || cfg.InsecureSkipVerify {
		t.Fatalf("%+v", cfg)
	}
}

func TestClientConfigErrorsNameTheFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "bridge.pem")
	if _, err := ClientConfig("h", missing); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("missing file: %v", err)
	}
	empty := writeFile(t, "empty.pem", []byte("no certificate here\n"))
	if _, err := ClientConfig("h", empty); err == nil || !strings.Contains(err.Error(), empty) || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("file without a certificate: %v", err)
	}
}

// A client given the server's self-signed certificate as its CA file
// connects; one without it, or to another name, does not.
func TestClientConfigTrustsCAFile(t *testing.T) {
	certPEM, keyPEM, err := SelfSigned("server", []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.(*tls.Conn).Handshake()
			}()
		}
	}()
	caFile := writeFile(t, "ca.pem", certPEM)
	dial := func(host, caFile string) error {
		cfg, err := ClientConfig(host, caFile)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, h := range []string{"localhost", "127.0.0.1"} {
		if err := dial(h, caFile); err != nil {
			t.Errorf("%s with the CA file: %v", h, err)
		}
	}
	if err := dial("localhost", ""); err == nil {
		t.Error("a self-signed server trusted without the CA file")
	}
	if err := dial("other.example", caFile); err == nil {
		t.Error("a certificate accepted for a name it does not hold")
	}
}
