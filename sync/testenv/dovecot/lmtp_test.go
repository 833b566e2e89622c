package dovecot

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

// lmtpDir returns a directory every user can traverse (LMTP delivers as
// the mail user without a chroot), removed at the end of the test.
func lmtpDir(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/lib/dovecot/lmtp", "/usr/libexec/dovecot/lmtp"} {
		if _, err := os.Stat(p); err == nil {
			d, err := os.MkdirTemp("", "dctl-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(d) })
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
			if !searchable(d) {
				t.Skipf("%s is not searchable by others", d)
			}
			return d
		}
	}
	proc.Need(t, "testenv/dovecot: Dovecot", Available(), installHint)
	proc.Need(t, "Dovecot's lmtp (dovecot-lmtpd)", errors.New("not installed"), installHint)
	return ""
}

func TestLMTPAndAuthSocket(t *testing.T) {
	base := lmtpDir(t)
	socks := filepath.Join(base, "sock")
	if err := os.Mkdir(socks, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "dovecot")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	s := StartT(t, Options{
		Dir:        dir,
		Users:      map[string]string{"user1@a.test": "pass1"},
		LMTPSocket: filepath.Join(socks, "lmtp"),
		AuthSocket: filepath.Join(socks, "auth"),
	})
	for _, p := range []string{s.LMTPSocket, s.AuthSocket} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
			t.Fatalf("%s: %v, %v", p, fi, err)
		}
	}

	// LMTP: known user accepted, unknown refused.
	conn, err := net.Dial("unix", s.LMTPSocket)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("sender@b.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ghost@a.test", nil); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("RCPT unknown user: %v, want 550", err)
	}
	if err := c.Rcpt("user1@a.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	body := msg("Subject: by LMTP", "", "lmtp body")
	w.Write(body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	got, _ := fetchAll(t, s, "user1@a.test", "INBOX")
	if len(got) != 1 || !bytes.Contains(got[0].Body, []byte("lmtp body")) || !bytes.Contains(got[0].Body, []byte("Delivered-To: user1@a.test")) {
		t.Fatalf("INBOX after LMTP: %+v", got)
	}

	// Auth socket: Dovecot's auth protocol, as Postfix's smtpd speaks it.
	ac, err := net.Dial("unix", s.AuthSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	ac.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(ac, "VERSION\t1\t2\nCPID\t%d\n", os.Getpid())
	r := bufio.NewReader(ac)
	var mechs []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("auth handshake: %v (mechanisms so far %v)", err, mechs)
		}
		f := strings.Split(strings.TrimSpace(line), "\t")
		if f[0] == "MECH" {
			mechs = append(mechs, f[1])
		}
		if f[0] == "DONE" {
			break
		}
	}
	if !strings.Contains(strings.Join(mechs, " "), "PLAIN") {
		t.Errorf("mechanisms %v lack PLAIN", mechs)
	}
	for i, tc := range []struct {
		pass, want string
	}{{"wrong", "FAIL"}, {"pass1", "OK"}} {
		resp := base64.StdEncoding.EncodeToString([]byte("\x00user1@a.test\x00" + tc.pass))
		fmt.Fprintf(ac, "AUTH\t%d\tPLAIN\tservice=smtp\tnologin\tresp=%s\n", i+1, resp)
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(line, fmt.Sprintf("%s\t%d\t", tc.want, i+1)) || tc.want == "OK" && !strings.Contains(line, "user=user1@a.test") {
			t.Errorf("AUTH with %q: %q, want %s", tc.pass, line, tc.want)
		}
	}
}

func TestLMTPSocketOptionsChecked(t *testing.T) {
	proc.Need(t, "testenv/dovecot: Dovecot", Available(), installHint)
	sock := filepath.Join(t.TempDir(), "lmtp")
	for _, o := range []Options{
		{Dir: t.TempDir(), LMTPSocket: "relative/lmtp"},
		{Dir: t.TempDir(), LMTPSocket: "/nonexistent-dir-dovecot/lmtp"},
		{Dir: t.TempDir(), AuthSocket: "/tmp/" + strings.Repeat("x", 120)},
		{Dir: t.TempDir(), LMTPSocket: sock, AuthSocket: sock},
	} {
		if s, err := Start(o); err == nil {
			s.Stop()
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
	if os.Geteuid() == 0 {
		// A t.TempDir() is 0700: LMTP could not store mail as nobody.
		s, err := Start(Options{Dir: t.TempDir(), LMTPSocket: sock})
		if err == nil {
			s.Stop()
			t.Error("Start with LMTPSocket in a 0700 t.TempDir succeeded as root")
		} else if !strings.Contains(err.Error(), "searchable") {
			t.Errorf("error does not explain: %v", err)
		}
	}
}
