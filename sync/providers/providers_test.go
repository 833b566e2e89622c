package providers

import (
	"fmt"
	"testing"
)

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

func TestEveryPresetHasSMTP(t *testing.T) {
	for _, e := range presets {
		p := e.p
		if p.Host == "" || p.Port == 0 || (p.Security != "tls" && p.Security != "starttls") {
			t.Errorf("%s: bad IMAP settings %+v", p.Name, p)
		}
		if p.SMTPHost == "" || p.SMTPPort == 0 || (p.SMTPSecurity != "tls" && p.SMTPSecurity != "starttls") {
			t.Errorf("%s: bad SMTP settings %+v", p.Name, p)
		}
		// implicit TLS goes with 465/993, STARTTLS never with them
		if (p.SMTPPort == 465) != (p.SMTPSecurity == "tls") {
			t.Errorf("%s: SMTP port %d with %s", p.Name, p.SMTPPort, p.SMTPSecurity)
		}
	}
}

func TestSMTPSettings(t *testing.T) {
	for email, want := range map[string]string{
		"a@gmail.com":      "smtp.gmail.com:465:tls",
		"a@hotmail.co.uk":  "smtp-mail.outlook.com:587:starttls",
		"a@btinternet.com": "mail.btinternet.com:465:tls",
		"a@yahoo.com":      "smtp.mail.yahoo.com:465:tls",
		"a@aol.com":        "smtp.aol.com:465:tls",
		"a@me.com":         "smtp.mail.me.com:587:starttls",
		"a@fastmail.fm":    "smtp.fastmail.com:465:tls",
		"a@gmx.co.uk":      "mail.gmx.com:465:tls",
		"a@gmx.de":         "mail.gmx.net:465:tls",
		"a@zohomail.com":   "smtp.zoho.com:465:tls",
		"a@pm.me":          "127.0.0.1:1025:starttls",
	} {
		p, ok := ForEmail(email)
		if got := fmt.Sprintf("%s:%d:%s", p.SMTPHost, p.SMTPPort, p.SMTPSecurity); !ok || got != want {
			t.Errorf("%s: %v %s, want %s", email, ok, got, want)
		}
	}
}

func TestForMXHost(t *testing.T) {
	for host, name := range map[string]string{
		"aspmx.l.google.com.":                     "Gmail",
		"ALT1.ASPMX.L.GOOGLE.COM":                 "Gmail",
		"smtp.google.com":                         "Gmail",
		"aspmx2.googlemail.com":                   "Gmail",
		"contoso-com.mail.protection.outlook.com": "Microsoft 365",
		"mta5.am0.yahoodns.net":                   "Yahoo Mail",
		"mx01.mail.icloud.com":                    "iCloud Mail",
		"in1-smtp.messagingengine.com":            "Fastmail",
		"mx00.gmx.net":                            "GMX",
		"mx.zoho.com":                             "Zoho Mail",
		"mail.protonmail.ch":                      "Proton Mail Bridge",
	} {
		p, ok := ForMXHost(host)
		if !ok || p.Name != name {
			t.Errorf("%s: %v %q, want %q", host, ok, p.Name, name)
		}
	}
	for _, host := range []string{"", "mx.example.org", "notgoogle.com", "google.com.evil.example", "mx.zoho.eu"} {
		if p, ok := ForMXHost(host); ok {
			t.Errorf("%q matched %s", host, p.Name)
		}
	}
	if p, _ := ForMXHost("mx00.gmx.net"); p.SMTPHost != "mail.gmx.net" {
		t.Errorf("gmx.net MX gave %+v", p)
	}
	// Microsoft 365 has no address domain of its own
	if p, ok := ForEmail("someone@office365.com"); ok {
		t.Errorf("matched %s", p.Name)
	}
}
