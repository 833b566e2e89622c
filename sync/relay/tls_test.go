package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// The relay's certificate is made once, names this machine, and is what a
// mail program given relay-cert.pem trusts.
func TestLoadOrCreateTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tc, err := LoadOrCreateTLS(dir, "relay.lan", "192.168.1.5")
	if err != nil {
		t.Fatal(err)
	}
	if tc.CertFile != filepath.Join(dir, "relay-cert.pem") {
		t.Errorf("CertFile %s", tc.CertFile)
	}
	if runtime.GOOS != "windows" {
		for _, f := range []string{"relay-cert.pem", "relay-key.pem"} {
			if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v %v", f, fi.Mode(), err)
			}
		}
	}
	leaf, err := x509.ParseCertificate(tc.Config.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "Lifeboat local relay" || leaf.IsCA {
		t.Errorf("subject %q, CA %v", leaf.Subject.CommonName, leaf.IsCA)
	}
	if got := fmt.Sprint(leaf.DNSNames, leaf.IPAddresses); got != "[localhost relay.lan] [127.0.0.1 ::1 192.168.1.5]" {
		t.Errorf("names %s", got)
	}
	if years := time.Until(leaf.NotAfter).Hours() / 24 / 365; years < 9.9 || years > 10.1 {
		t.Errorf("valid for %.1f years", years)
	}
	sum := sha256.Sum256(leaf.Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); strings.ReplaceAll(tc.Fingerprint, ":", "") != want || len(tc.Fingerprint) != 95 {
		t.Errorf("fingerprint %s", tc.Fingerprint)
	}
	again, err := LoadOrCreateTLS(dir)
	if err != nil || again.Fingerprint != tc.Fingerprint {
		t.Fatalf("a second start made another certificate: %v %s", err, again.Fingerprint)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc.Config)
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
			go func() { defer c.Close(); c.(*tls.Conn).Handshake() }()
		}
	}()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		cfg, err := tlsutil.ClientConfig(host, tc.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatalf("a client trusting relay-cert.pem, to %s: %v", host, err)
		}
		c.Close()
	}
}

// A certificate made by an earlier version, its key in SEC 1 form, is kept.
func TestLoadOrCreateTLSKeepsAnEarlierCertificate(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Lifeboat local relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*pem.Block{"relay-key.pem": {Type: "EC PRIVATE KEY", Bytes: kder}, "relay-cert.pem": {Type: "CERTIFICATE", Bytes: der}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := LoadOrCreateTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := tc.Config.Certificates[0].Certificate[0]; string(got) != string(der) {
		t.Fatal("the earlier certificate was replaced")
	}
}

// A damaged certificate is reported with what to do, never replaced
// silently (mail programs pinned the old one).
func TestLoadOrCreateTLSDamaged(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateTLS(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "relay-key.pem"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateTLS(dir)
	if err == nil || !strings.Contains(err.Error(), "remove it and its key") {
		t.Fatalf("damaged key: %v", err)
	}
}
