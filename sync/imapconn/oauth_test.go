package imapconn_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-mail/lifeboat/sync/failure"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/oauthserver"
)

// A real Dovecot checks bearer tokens against the test's authorization
// server (its oauth2 passdb and token introspection): both mechanisms sign
// in, through the go-imap client and the raw appender; a refused token is
// renewed once; a token refused even fresh is an authentication failure
// with advice, and no error carries a token.
func TestOAuth2SignInAgainstDovecot(t *testing.T) {
	as := oauthserver.Start("lifeboat-test", "imap")
	t.Cleanup(as.Close)
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) {
			s := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"user1": "pass1"},
				OAuth2IntrospectionURL: as.IntrospectURL(), OAuth2Mechanisms: mech})
			ctx := context.Background()
			good, _, _ := as.Issue("user1")
			for _, sec := range []imapconn.Security{imapconn.TLS, imapconn.StartTLS} {
				ep := dovecotEndpoint(s, "user1", sec)
				ep.Auth = mailauth.OAuth2
				c, err := imapconn.Dial(ctx, ep, good, nil)
				if err != nil {
					t.Fatalf("%s: %v", sec, err)
				}
				if _, err := c.Select("INBOX", nil).Wait(); err != nil {
					t.Fatal(err)
				}
				c.Close()
				a, err := imapconn.DialAppender(ctx, ep, good)
				if err != nil {
					t.Fatalf("appender, %s: %v", sec, err)
				}
				a.Close()
			}

			// An expired token: renewed once, then signed in.
			ep := dovecotEndpoint(s, "user1", imapconn.TLS)
			ep.Auth = mailauth.OAuth2
			var renewed atomic.Int32
			ep.Renew = func(ctx context.Context, stale string) (string, error) {
				renewed.Add(1)
				if stale != "at-expired" {
					t.Errorf("renew of %q", stale)
				}
				fresh, _, _ := as.Issue("user1")
				return fresh, nil
			}
			c, err := imapconn.Dial(ctx, ep, "at-expired", nil)
			if err != nil {
				t.Fatalf("with renewal: %v", err)
			}
			c.Close()
			a, err := imapconn.DialAppender(ctx, ep, "at-expired")
			if err != nil {
				t.Fatalf("appender with renewal: %v", err)
			}
			a.Close()
			if renewed.Load() != 2 {
				t.Errorf("%d renewals, want 2", renewed.Load())
			}

			// Refused even when fresh: auth, with advice, no token shown.
			ep.Renew = func(context.Context, string) (string, error) { return "at-also-bad-SECRET", nil }
			_, err = imapconn.Dial(ctx, ep, "at-bad-SECRET", nil)
			if kindOf(t, err) != imapconn.KindAuth || !strings.Contains(err.Error(), "IMAP is enabled") {
				t.Errorf("refused fresh token: %v", err)
			}
			_, aerr := imapconn.DialAppender(ctx, ep, "at-bad-SECRET")
			if failure.Of(aerr, "") != failure.Auth {
				t.Errorf("appender, refused fresh token: %v", aerr)
			}
			for _, e := range []error{err, aerr} {
				if e != nil && strings.Contains(e.Error(), "SECRET") {
					t.Errorf("an error shows the token: %v", e)
				}
			}

			// The sign-in service refuses the renewal: that error, kind auth.
			ep.Renew = func(context.Context, string) (string, error) {
				return "", &oauth.SignInError{Account: "work", Reason: "revoked"}
			}
			_, err = imapconn.Dial(ctx, ep, "at-bad", nil)
			var se *oauth.SignInError
			if !errors.As(err, &se) || failure.Of(err, "") != failure.Auth {
				t.Errorf("revoked: %v", err)
			}
			// Passwords still work beside OAuth2.
			pw := dovecotEndpoint(s, "user1", imapconn.TLS)
			if c, err := imapconn.Dial(ctx, pw, "pass1", nil); err != nil {
				t.Errorf("password: %v", err)
			} else {
				c.Close()
			}
		})
	}
	// A server without OAuth2: a clear configuration error.
	plain := dovecot.StartT(t, dovecot.Options{})
	ep := dovecotEndpoint(plain, "user1", imapconn.TLS)
	ep.Auth = mailauth.OAuth2
	_, err := imapconn.Dial(context.Background(), ep, "at-x", nil)
	if !errors.Is(err, mailauth.ErrNoMechanism) || !strings.Contains(err.Error(), `auth = "password"`) {
		t.Errorf("no OAuth2 on the server: %v", err)
	}
}
