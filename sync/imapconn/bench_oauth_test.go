package imapconn_test

import (
	"context"
	"testing"

	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/oauthserver"
)

// BenchmarkSignIn is what a sign-in costs a connection on loopback
// against Dovecot: TLS, greeting, the sign-in and CAPABILITY, then
// LOGOUT. With OAuth2 Dovecot asks the authorization server's
// introspection endpoint on every sign-in, as a provider checks its
// tokens. go test -bench SignIn -run '^$' ./sync/imapconn
func BenchmarkSignIn(b *testing.B) {
	as := oauthserver.Start("lifeboat-bench", "imap")
	defer as.Close()
	s := dovecot.StartT(b, dovecot.Options{Users: map[string]string{"user1": "pass1"}, OAuth2IntrospectionURL: as.IntrospectURL()})
	xo := dovecot.StartT(b, dovecot.Options{Users: map[string]string{"user1": "pass1"}, OAuth2IntrospectionURL: as.IntrospectURL(), OAuth2Mechanisms: "xoauth2"})
	token, _, _ := as.Issue("user1")
	for _, c := range []struct {
		name   string
		srv    *dovecot.Server
		auth   mailauth.Method
		secret string
	}{
		{"password", s, mailauth.Password, "pass1"},
		{"oauthbearer", s, mailauth.OAuth2, token},
		{"xoauth2", xo, mailauth.OAuth2, token},
	} {
		b.Run(c.name, func(b *testing.B) {
			ep := dovecotEndpoint(c.srv, "user1", imapconn.TLS)
			ep.Auth = c.auth
			for b.Loop() {
				cl, err := imapconn.Dial(context.Background(), ep, c.secret, nil)
				if err != nil {
					b.Fatal(err)
				}
				cl.Logout().Wait()
				cl.Close()
			}
		})
	}
}
