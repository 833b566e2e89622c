package imapconn_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

func kindOf(t *testing.T, err error) imapconn.Kind {
	t.Helper()
	var ce *imapconn.Error
	if !errors.As(err, &ce) {
		t.Fatalf("not an *imapconn.Error: %v", err)
	}
	return ce.Kind
}

func TestDial(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true, Password: "right-horse-battery"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()

	c, err := imapconn.Dial(ctx, p.Endpoint(), p.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	_, err = imapconn.Dial(ctx, p.Endpoint(), "wrong-password", nil)
	if kindOf(t, err) != imapconn.KindAuth || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("wrong password: %v", err)
	}

	remote := p.Endpoint()
	remote.Host = "imap.example.com"
	_, err = imapconn.Dial(ctx, remote, "x", nil)
	if kindOf(t, err) != imapconn.KindTLS || !strings.Contains(err.Error(), "plaintext IMAP refused") {
		t.Fatalf("plain to a remote host must be refused before any connection: %v", err)
	}

	// Nothing listening: unreachable.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := p.Endpoint()
	closed.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, err = imapconn.Dial(ctx, closed, "x", nil)
	if kindOf(t, err) != imapconn.KindUnreachable {
		t.Fatalf("refused connection: %v", err)
	}

	// A server that accepts and never speaks: bounded by the timeout.
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	mute := p.Endpoint()
	mute.Port = silent.Addr().(*net.TCPAddr).Port
	mute.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = imapconn.Dial(ctx, mute, "x", nil)
	if kindOf(t, err) != imapconn.KindUnreachable || time.Since(start) > 5*time.Second {
		t.Fatalf("silent server: %v after %s", err, time.Since(start))
	}

	// TLS to a plaintext server: a TLS problem, never a downgrade.
	tlsEP := p.Endpoint()
	tlsEP.Security = imapconn.TLS
	tlsEP.Timeout = 2 * time.Second
	_, err = imapconn.Dial(ctx, tlsEP, "x", nil)
	if k := kindOf(t, err); k != imapconn.KindTLS && k != imapconn.KindUnreachable {
		t.Fatalf("TLS to a plaintext port: %v", err)
	}

	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = imapconn.Dial(cctx, p.Endpoint(), p.Password, nil)
	if err == nil {
		t.Fatal("dial with a cancelled context succeeded")
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "127.1.2.3": true, "10.0.0.1": false, "example.com": false} {
		if imapconn.IsLoopback(host) != want {
			t.Errorf("%s: want %v", host, want)
		}
	}
}

// A tls_ca_file that cannot be used is a TLS error naming the file, before
// any connection (nothing listens on the port).
func TestDialCAFileUnusable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "bridge.pem")
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ca := range []string{missing, empty} {
		_, err := imapconn.Dial(context.Background(), imapconn.Endpoint{Host: "192.0.2.1", Port: 993, CAFile: ca, Timeout: time.Second}, "pw", nil)
		if kindOf(t, err) != imapconn.KindTLS || !strings.Contains(err.Error(), ca) {
			t.Errorf("CA file %s: %v", ca, err)
		}
	}
}
