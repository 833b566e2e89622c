package idle

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/oauthserver"
)

// IDLE on a real Dovecot that takes only bearer tokens for the user
// (oauth2 passdb), with each mechanism: the watch signs in with a token
// that is refused, renews it, and then notices new mail.
func TestIdleWithOAuth2(t *testing.T) {
	as := oauthserver.Start("lifeboat-test", "imap")
	t.Cleanup(as.Close)
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) {
			s := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"user1": "pass1"},
				OAuth2IntrospectionURL: as.IntrospectURL(), OAuth2Mechanisms: mech})
			// The user's mailbox exists before the watch's first session:
			// Dovecot 2.3 panics (a lock deadlock on dovecot.list.index.log)
			// when two first sessions create it at once.
			if _, err := s.Append("user1", "INBOX", []byte("Subject: first\r\n\r\nfirst\r\n"), nil, time.Now()); err != nil {
				t.Fatal(err)
			}
			host, port, _ := net.SplitHostPort(s.IMAPSAddr)
			n, _ := strconv.Atoi(port)
			var renewed atomic.Int32
			ep := imapconn.Endpoint{Host: host, Port: n, Username: "user1", CAFile: s.CAFile, Timeout: 10 * time.Second,
				Auth: mailauth.OAuth2, Renew: func(context.Context, string) (string, error) {
					renewed.Add(1)
					at, _, _ := as.Issue("user1")
					return at, nil
				}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			changed := make(chan struct{}, 10)
			errs := make(chan error, 10)
			done := make(chan struct{})
			go func() {
				defer close(done)
				Watch(ctx, Options{Endpoint: ep, Password: func() (string, error) { return "at-stale", nil },
					Changed: func() { changed <- struct{}{} }, Error: func(err error) { errs <- err }})
			}()
			// Mail arrives until the watch notices (a message that came
			// before the watch selected INBOX is no change to it).
			noticed := false
			for i := 0; i < 20 && !noticed; i++ {
				if _, err := s.Append("user1", "INBOX", []byte("Subject: new\r\n\r\nnew\r\n"), nil, time.Now()); err != nil {
					t.Fatal(err)
				}
				select {
				case <-changed:
					noticed = true
				case err := <-errs:
					t.Fatalf("watch: %v", err)
				case <-time.After(500 * time.Millisecond):
				}
			}
			if !noticed {
				t.Fatal("new mail was not noticed")
			}
			if renewed.Load() != 1 {
				t.Errorf("%d renewals, want 1", renewed.Load())
			}
			cancel()
			<-done
		})
	}
}
