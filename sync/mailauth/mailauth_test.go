package mailauth

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/sync/failure"
)

func TestMechanismsAndTheirAnswers(t *testing.T) {
	if m, _ := Choose(func(m string) bool { return m == XOAuth2 || m == OAuthBearer }); m != OAuthBearer {
		t.Errorf("both offered: %s", m)
	}
	if m, _ := Choose(func(m string) bool { return m == XOAuth2 }); m != XOAuth2 {
		t.Errorf("XOAUTH2 only: %s", m)
	}
	if _, err := Choose(func(string) bool { return false }); !errors.Is(err, ErrNoMechanism) || failure.Of(err, "") != failure.Auth {
		t.Errorf("none: %v", err)
	}
	x := Client(XOAuth2, "jane@x.test", "TOK", "imap.x.test", 993)
	if _, ir, _ := x.Start(); string(ir) != "user=jane@x.test\x01auth=Bearer TOK\x01\x01" {
		t.Errorf("XOAUTH2: %q", ir)
	}
	o := Client(OAuthBearer, "a,b=c@x.test", "TOK", "imap.x.test", 993)
	if _, ir, _ := o.Start(); string(ir) != "n,a=a=2Cb=3Dc@x.test,\x01host=imap.x.test\x01port=993\x01auth=Bearer TOK\x01\x01" {
		t.Errorf("OAUTHBEARER: %q", ir)
	}
	// The error challenge is answered as each mechanism says, then the
	// server's NO is a refusal (renewable); a second challenge breaks it.
	for _, c := range []struct {
		sc   string
		want []byte
	}{{XOAuth2, []byte{}}, {OAuthBearer, []byte{1}}} {
		sc := Client(c.sc, "u", "TOK", "h", 1)
		resp, err := sc.Next([]byte(`{"status":"invalid_token","scope":"imap"}`))
		if err != nil || string(resp) != string(c.want) {
			t.Errorf("%s: answer %q, %v", c.sc, resp, err)
		}
		no := &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "AUTHENTICATE failed"}
		var re *RefusedError
		if err := Outcome(sc, no); !errors.As(err, &re) || re.Status != "invalid_token" || strings.Contains(err.Error(), "TOK") {
			t.Errorf("%s: outcome %v", c.sc, err)
		}
		if _, err := sc.Next([]byte(`{}`)); err == nil {
			t.Errorf("%s: a second challenge was answered", c.sc)
		}
		if err := Outcome(sc, errors.New("cut")); errors.As(err, &re) {
			t.Errorf("%s: a broken exchange is taken for a refusal to renew: %v", c.sc, err)
		}
	}
}
