package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/oauthserver"
)

// BenchmarkBackupSignIn is what signing in with OAuth2 adds to what a
// user waits for: a whole `lifeboat backup` process (start to exit) with
// nothing new, over 2,000 archived messages in 5 folders, against Dovecot
// with the archive on the disk; with a password, with a valid OAuth2
// access token, and with an expired one (a refresh at the local
// authorization server first). Run it inside .ci/with-keyring:
//
//	.ci/with-keyring go test -bench BackupSignIn -run '^$' ./cmd/lifeboat/e2e
func BenchmarkBackupSignIn(b *testing.B) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		b.Skip("needs the Secret Service: run inside .ci/with-keyring")
	}
	bin := buildLifeboat(b)
	as := oauthserver.Start("lifeboat-bench", "imap")
	defer as.Close()
	s := dovecot.StartT(b, dovecot.Options{Users: map[string]string{"user1": "pass1"}, OAuth2IntrospectionURL: as.IntrospectURL()})
	for f := 0; f < 5; f++ {
		var msgs [][]byte
		for i := 0; i < 400; i++ {
			msgs = append(msgs, []byte(fmt.Sprintf("From: a@x.test\r\nMessage-ID: <%d.%d@x.test>\r\nSubject: message %d\r\n\r\n%0500d\r\n", f, i, i, i)))
		}
		folder := "INBOX"
		if f > 0 {
			folder = fmt.Sprintf("Folder%d", f)
		}
		if err := s.Load("user1", folder, msgs, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	_, port, _ := net.SplitHostPort(s.IMAPSAddr)
	name := fmt.Sprintf("bench-oauth-%d", os.Getpid())
	keyring := secrets.Keyring()
	b.Cleanup(func() { keyring.Delete(secrets.Service, "oauth2:"+name) })
	write := func(kind, auth string) string {
		cfg := filepath.Join(dir, kind+".toml")
		conf := fmt.Sprintf("archive_dir = %q\n[[account]]\nname = %q\nemail = \"user1@x.test\"\n[account.imap]\nhost = \"localhost\"\nport = %s\nusername = \"user1\"\ntls_ca_file = %q\n%s\n",
			filepath.Join(dir, "archive-"+kind), name, port, s.CAFile, auth)
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			b.Fatal(err)
		}
		return cfg
	}
	pwCfg := write("password", `password_command = "printf %s pass1"`)
	oaCfg := write("oauth2", fmt.Sprintf("auth = \"oauth2\"\n[account.oauth2]\nprovider = \"custom\"\nclient_id = \"lifeboat-bench\"\ntoken_url = %q\nauth_url = %q\nscopes = [\"imap\"]", as.TokenURL(), as.AuthURL()))
	store := func(expiresIn time.Duration) {
		at, rt, _ := as.Issue("user1")
		v, _ := json.Marshal(map[string]any{"a": at, "r": rt, "e": time.Now().Add(expiresIn)})
		if err := keyring.Set(secrets.Service, "oauth2:"+name, string(v)); err != nil {
			b.Fatal(err)
		}
	}
	backup := func(cfg string) {
		cmd := osexec.Command(bin, "--config", cfg, "backup")
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "LANG=C.UTF-8")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("backup: %v\n%s", err, out)
		}
	}
	store(time.Hour)
	backup(pwCfg) // the first, full backups: not measured
	backup(oaCfg)
	b.Run("password", func(b *testing.B) {
		for b.Loop() {
			backup(pwCfg)
		}
	})
	b.Run("oauth2", func(b *testing.B) {
		store(time.Hour)
		for b.Loop() {
			backup(oaCfg)
		}
	})
	b.Run("oauth2-refresh", func(b *testing.B) {
		refreshes := as.Requests("refresh")
		for b.Loop() {
			b.StopTimer()
			store(time.Minute) // inside Early: refreshed before use
			b.StartTimer()
			backup(oaCfg)
		}
		if as.Requests("refresh")-refreshes != b.N {
			b.Fatalf("%d refreshes for %d runs", as.Requests("refresh")-refreshes, b.N)
		}
	})
}
