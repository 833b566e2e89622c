package smtpsend_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/failure"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/smtpsend"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/mailstack"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/oauthserver"
)

// A real Postfix submission service, checking SASL through Dovecot's
// oauth2 passdb against the test's authorization server: a message sent
// with a bearer token (XOAUTH2, then OAUTHBEARER) is delivered; an
// expired token is renewed once; a refused one is an authentication
// failure (next account, needs you).
func TestSendWithOAuth2ThroughPostfix(t *testing.T) {
	as := oauthserver.Start("lifeboat-test", "smtp")
	t.Cleanup(as.Close)
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) {
			p := mailstack.StartT(t, mailstack.Options{Users: map[string]string{"user1": "pass1", "user2": "pass2"},
				OAuth2IntrospectionURL: as.IntrospectURL(), OAuth2Mechanisms: mech})
			host, port, _ := net.SplitHostPort(p.SubmissionAddr)
			n, _ := strconv.Atoi(port)
			from, to := p.Email("user1"), p.Email("user2")
			ep := smtpsend.Endpoint{Host: host, Port: n, Security: "starttls", Username: from, TLSConfig: p.TLSConfig,
				Timeout: 10 * time.Second, Auth: mailauth.OAuth2}
			renewals := 0
			ep.Renew = func(ctx context.Context, stale string) (string, error) {
				renewals++
				fresh, _, _ := as.Issue(from)
				return fresh, nil
			}
			msg := []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: oauth " + mech + "\r\nMessage-ID: <" + mech + "@a.test>\r\n\r\nsent with a bearer token\r\n")
			res := smtpsend.Send(context.Background(), ep, "at-expired", from, []string{to}, bytes.NewReader(msg), int64(len(msg)), smtpsend.Hooks{})
			if res.Failure != nil || len(res.Accepted) != 1 {
				t.Fatalf("send: %+v", res.Failure)
			}
			if renewals != 1 {
				t.Errorf("%d renewals, want 1", renewals)
			}
			got, err := p.WaitForMail("user2", "INBOX", 1, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got[0], []byte("sent with a bearer token")) {
				t.Errorf("delivered: %q", got[0])
			}
			ep.Renew = func(context.Context, string) (string, error) { return "at-still-bad-SECRET", nil }
			res = smtpsend.Send(context.Background(), ep, "at-bad-SECRET", from, []string{to}, bytes.NewReader(msg), int64(len(msg)), smtpsend.Hooks{})
			if res.Failure == nil || res.Failure.Kind != failure.Auth || res.Failure.Action != smtpsend.NextAccountNeedsYou {
				t.Fatalf("refused token: %+v", res.Failure)
			}
			if strings.Contains(res.Failure.Error(), "SECRET") || strings.Contains(res.Failure.Text, "SECRET") {
				t.Errorf("the failure shows the token: %v", res.Failure)
			}
		})
	}
}
