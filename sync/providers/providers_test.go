package providers

import "testing"

func TestForEmail(t *testing.T) {
	for email, host := range map[string]string{
		"jane@btinternet.com": "mail.btinternet.com",
		"Jane@GMail.com":      "imap.gmail.com",
		"x@icloud.com":        "imap.mail.me.com",
		"x@gmx.de":            "imap.gmx.net",
	} {
		p, ok := ForEmail(email)
		if !ok || p.Host != host {
			t.Errorf("%s: %v %+v", email, ok, p)
		}
	}
	if _, ok := ForEmail("someone@example.org"); ok {
		t.Error("unknown domain matched")
	}
	if p, _ := ForEmail("jane@icloud.com"); p.Username("jane@icloud.com") != "jane" {
		t.Error("iCloud logs in with the local part")
	}
}
