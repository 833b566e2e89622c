package wire

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

// An account whose IMAP takes a password and whose SMTP signs in with
// OAuth2: the new sign-in's token is checked on SMTP only, and never sent
// to the IMAP server as a password.
func TestCheckSignInSendsTheTokenOnlyWhereOAuth2Is(t *testing.T) {
	imapLn, _ := net.Listen("tcp", "127.0.0.1:0")
	defer imapLn.Close()
	var imapConns atomic.Int32
	go func() {
		for {
			c, err := imapLn.Accept()
			if err != nil {
				return
			}
			imapConns.Add(1)
			c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	smtpPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	_, imapPort, _ := net.SplitHostPort(imapLn.Addr().String())
	conf := `[[account]]
name = "mixed"
email = "jane@x.test"
[account.imap]
host = "127.0.0.1"
port = ` + imapPort + `
security = "plain"
auth = "password"
[account.smtp]
host = "127.0.0.1"
port = ` + strconv.Itoa(smtpPort) + `
security = "plain"
auth = "oauth2"
[account.oauth2]
provider = "microsoft"
client_id = "c"
`
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "config.toml"), []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Accounts[0]
	if a.UsesOAuth2() || !a.SMTPUsesOAuth2() {
		t.Fatalf("imap oauth %t, smtp oauth %t", a.UsesOAuth2(), a.SMTPUsesOAuth2())
	}
	w := Wiring{Config: cfg, Secrets: secrets.NewMemory()}
	if ep := w.IMAP(a); ep.Auth == mailauth.OAuth2 {
		t.Error("the password IMAP endpoint signs in with OAuth2")
	}
	if ep := w.SMTP(a); ep.Auth != mailauth.OAuth2 || ep.Token == nil || ep.Renew == nil {
		t.Error("the OAuth2 SMTP endpoint does not sign in with its token")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := w.CheckSignIn(ctx, a, "at-SECRET")
	if err == nil || !strings.Contains(err.Error(), "outgoing mail (SMTP)") || n != -1 {
		t.Fatalf("check: %d, %v", n, err)
	}
	if strings.Contains(err.Error(), "at-SECRET") {
		t.Error("the error shows the token")
	}
	if imapConns.Load() != 0 {
		t.Errorf("%d connections to the password IMAP server with an OAuth2 token", imapConns.Load())
	}
}

// The token store: one keyring entry, the JSON of the token; a damaged
// entry is "sign in", not a crash; a token too long for the keyring keeps
// the refresh token alone.
func TestTokenStore(t *testing.T) {
	mem := secrets.NewMemory()
	st := TokenStore{mem}
	if _, err := st.Load("w"); err == nil {
		t.Fatal("no entry: no error")
	}
	tok := &oauth.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(time.Hour).Round(time.Second)}
	if err := st.Save("w", tok); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load("w")
	if err != nil || got.AccessToken != "at" || got.RefreshToken != "rt" || !got.Expiry.Equal(tok.Expiry) {
		t.Fatalf("%v %v", got, err)
	}
	mem.Set(secrets.Service, config.OAuth2Key("w"), "{not json")
	src := &oauth.Source{Account: "w", Store: st}
	if _, err := src.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged entry: %v", err)
	}
	small := TokenStore{tooBig{mem, 40}}
	if err := small.Save("w", &oauth.Token{AccessToken: strings.Repeat("a", 100), RefreshToken: "rt"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Load("w"); got.RefreshToken != "rt" || got.AccessToken != "" {
		t.Errorf("too big: %+v", got.RefreshToken)
	}
}

// tooBig refuses secrets longer than n, as Windows' Credential Manager does.
type tooBig struct {
	*secrets.Memory
	n int
}

func (s tooBig) Set(service, user, secret string) error {
	if len(secret) > s.n {
		return secrets.ErrTooBig
	}
	return s.Memory.Set(service, user, secret)
}
