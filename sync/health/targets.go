package health

import (
	"context"

	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// TargetsFor makes the Monitor's targets for configured accounts: IMAP
// always, SMTP when the account can send, logging in with the password
// that password returns for each protocol.
func TargetsFor(accounts []config.Account, password func(a config.Account, smtp bool) (string, error)) []Target {
	var out []Target
	for _, a := range accounts {
		a := a
		imapEP := imapconn.Endpoint{Host: a.IMAP.Host, Port: a.IMAP.Port, Security: imapconn.Security(a.IMAP.Security),
			Username: a.IMAP.Username, CAFile: a.IMAP.TLSCAFile}
		t := Target{Account: a.Name, IMAP: &imapEP}
		if a.SMTP != nil {
			t.SMTP = &SMTPEndpoint{Host: a.SMTP.Host, Port: a.SMTP.Port, Security: imapconn.Security(a.SMTP.Security),
				Username: a.SMTP.Username, CAFile: a.SMTP.TLSCAFile}
		}
		t.Credentials = func(ctx context.Context, p Protocol) (*Login, error) {
			pw, err := password(a, p == SMTP)
			if err != nil {
				return nil, err
			}
			if p == SMTP && a.SMTP != nil {
				email := a.Email
				if email == "" {
					email = a.SMTP.Username
				}
				return &Login{Username: a.SMTP.Username, Password: pw, Address: email}, nil
			}
			return &Login{Username: a.IMAP.Username, Password: pw}, nil
		}
		out = append(out, t)
	}
	return out
}
