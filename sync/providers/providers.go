// Package providers knows the IMAP and SMTP settings of well-known mail
// providers (Gmail, Outlook.com, BT, Yahoo, iCloud, Fastmail, ...), so an
// account can be set up from an address alone, and what each of them does
// that a client must know (app passwords, whether submissions are filed in
// Sent by the server).
package providers

import "strings"

// Preset is one provider's IMAP and SMTP settings and what a user must know.
type Preset struct {
	Name     string
	Host     string // IMAP
	Port     int
	Security string // tls | starttls

	// SMTP submission.
	SMTPHost     string
	SMTPPort     int
	SMTPSecurity string // tls | starttls

	// LocalPartLogin: the user name is the part before '@' (iCloud).
	LocalPartLogin bool
	// OAuth2 is the provider that signs the account in ("microsoft",
	// "google"), and Tenant its Microsoft tenant; "" for password
	// providers.
	OAuth2, Tenant string
	Advice         string

	// FilesSubmissions: the provider puts every message submitted over SMTP
	// into the account's Sent folder (Gmail: All Mail too), so searching
	// there tells whether a submission whose answer was lost arrived.
	// Only providers known to do so: a wrong "yes" would make Lifeboat
	// send a message twice.
	FilesSubmissions bool

	// MXDomains: domains whose hosts receive mail for this provider's
	// customers (custom domains); a domain whose MX host is one of them, or a
	// subdomain of one, is hosted here. See ForMXHost.
	MXDomains []string
}

var presets = []struct {
	domains []string
	p       Preset
}{
	{[]string{"gmail.com", "googlemail.com"}, Preset{Name: "Gmail", Host: "imap.gmail.com", Port: 993, Security: "tls",
		SMTPHost: "smtp.gmail.com", SMTPPort: 465, SMTPSecurity: "tls", FilesSubmissions: true, OAuth2: "google",
		MXDomains: []string{"google.com", "googlemail.com"},
		Advice:    "Gmail signs in with Google (OAuth2), or with an app password (Google Account → Security → 2-Step Verification → App passwords)."}},
	{[]string{"outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "live.co.uk", "msn.com"}, Preset{Name: "Outlook.com", Host: "outlook.office365.com", Port: 993, Security: "tls",
		SMTPHost: "smtp-mail.outlook.com", SMTPPort: 587, SMTPSecurity: "starttls", FilesSubmissions: true, OAuth2: "microsoft", Tenant: "consumers",
		Advice: "Outlook.com accepts only OAuth2 sign-in (Sign in with Microsoft) since September 2024; a password is refused."}},
	// NHSmail is Microsoft 365 under its own domain.
	{[]string{"nhs.net"}, Preset{Name: "NHSmail (Microsoft 365)", Host: "outlook.office365.com", Port: 993, Security: "tls",
		SMTPHost: "smtp.office365.com", SMTPPort: 587, SMTPSecurity: "starttls", FilesSubmissions: true, OAuth2: "microsoft", Tenant: "organizations",
		Advice: "NHSmail accepts only OAuth2 sign-in (Sign in with Microsoft) for IMAP; SMTP sign-in must be allowed for the mailbox."}},
	// Microsoft 365 has no consumer domain of its own: it is found through a
	// custom domain's MX (<tenant>.mail.protection.outlook.com).
	{nil, Preset{Name: "Microsoft 365", Host: "outlook.office365.com", Port: 993, Security: "tls",
		SMTPHost: "smtp.office365.com", SMTPPort: 587, SMTPSecurity: "starttls", FilesSubmissions: true, OAuth2: "microsoft", Tenant: "organizations",
		MXDomains: []string{"protection.outlook.com", "outlook.com"},
		Advice:    "Microsoft 365 accepts only OAuth2 sign-in (Sign in with Microsoft) for IMAP; SMTP sign-in must be allowed for the mailbox by its administrator."}},
	{[]string{"btinternet.com", "btopenworld.com", "talk21.com"}, Preset{Name: "BT Mail", Host: "mail.btinternet.com", Port: 993, Security: "tls",
		SMTPHost: "mail.btinternet.com", SMTPPort: 465, SMTPSecurity: "tls",
		Advice: "BT may require an app password for mail programs (My BT → Security)."}},
	{[]string{"yahoo.com", "yahoo.co.uk", "ymail.com"}, Preset{Name: "Yahoo Mail", Host: "imap.mail.yahoo.com", Port: 993, Security: "tls",
		SMTPHost: "smtp.mail.yahoo.com", SMTPPort: 465, SMTPSecurity: "tls",
		MXDomains: []string{"yahoodns.net"},
		Advice:    "Yahoo needs an app password (Account security → Generate app password)."}},
	{[]string{"aol.com"}, Preset{Name: "AOL Mail", Host: "imap.aol.com", Port: 993, Security: "tls",
		SMTPHost: "smtp.aol.com", SMTPPort: 465, SMTPSecurity: "tls",
		Advice: "AOL needs an app password (Account security → Generate app password)."}},
	{[]string{"icloud.com", "me.com", "mac.com"}, Preset{Name: "iCloud Mail", Host: "imap.mail.me.com", Port: 993, Security: "tls", LocalPartLogin: true,
		SMTPHost: "smtp.mail.me.com", SMTPPort: 587, SMTPSecurity: "starttls",
		MXDomains: []string{"icloud.com", "me.com"},
		Advice:    "iCloud needs an app-specific password (appleid.apple.com → Sign-In and Security)."}},
	{[]string{"fastmail.com", "fastmail.fm"}, Preset{Name: "Fastmail", Host: "imap.fastmail.com", Port: 993, Security: "tls",
		SMTPHost: "smtp.fastmail.com", SMTPPort: 465, SMTPSecurity: "tls",
		MXDomains: []string{"messagingengine.com"},
		Advice:    "Fastmail needs an app password (Settings → Privacy & Security → App passwords)."}},
	{[]string{"gmx.com", "gmx.co.uk"}, Preset{Name: "GMX", Host: "imap.gmx.com", Port: 993, Security: "tls",
		SMTPHost: "mail.gmx.com", SMTPPort: 465, SMTPSecurity: "tls",
		MXDomains: []string{"gmx.com"},
		Advice:    "GMX has IMAP switched off until you enable it (Settings → POP3 & IMAP)."}},
	{[]string{"gmx.net", "gmx.de"}, Preset{Name: "GMX", Host: "imap.gmx.net", Port: 993, Security: "tls",
		SMTPHost: "mail.gmx.net", SMTPPort: 465, SMTPSecurity: "tls",
		MXDomains: []string{"gmx.net"},
		Advice:    "GMX has IMAP switched off until you enable it (Einstellungen → POP3 & IMAP)."}},
	{[]string{"zoho.com", "zohomail.com"}, Preset{Name: "Zoho Mail", Host: "imap.zoho.com", Port: 993, Security: "tls",
		SMTPHost: "smtp.zoho.com", SMTPPort: 465, SMTPSecurity: "tls",
		MXDomains: []string{"zoho.com"},
		Advice:    "Zoho needs IMAP access enabled and, with two-factor sign-in, an app password."}},
	{[]string{"proton.me", "protonmail.com", "pm.me"}, Preset{Name: "Proton Mail Bridge", Host: "127.0.0.1", Port: 1143, Security: "starttls",
		SMTPHost: "127.0.0.1", SMTPPort: 1025, SMTPSecurity: "starttls", FilesSubmissions: true,
		MXDomains: []string{"protonmail.ch"},
		Advice:    "Proton works through Proton Mail Bridge: use the Bridge password, and set tls_ca_file to the certificate Bridge exports."}},
}

// FilesSubmissions reports whether the provider whose SMTP submission
// server is host is known to file what is submitted there into its Sent
// folder (see Preset.FilesSubmissions).
func FilesSubmissions(smtpHost string) bool {
	h := normHost(smtpHost)
	for _, e := range presets {
		if e.p.FilesSubmissions && normHost(e.p.SMTPHost) == h && !isLoopbackHost(h) {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

func normHost(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// ForEmail returns the preset for an address's domain.
func ForEmail(email string) (Preset, bool) {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return Preset{}, false
	}
	domain := normHost(email[at+1:])
	for _, e := range presets {
		for _, d := range e.domains {
			if d == domain {
				return e.p, true
			}
		}
	}
	return Preset{}, false
}

// ForMXHost returns the preset whose MXDomains hold an MX host name (the host
// itself or a parent domain: aspmx.l.google.com → Gmail,
// contoso-com.mail.protection.outlook.com → Microsoft 365). The longest
// matching domain wins.
func ForMXHost(host string) (Preset, bool) {
	host = normHost(host)
	best, bestLen := Preset{}, 0
	if host == "" {
		return best, false
	}
	for _, e := range presets {
		for _, d := range e.p.MXDomains {
			if (host == d || strings.HasSuffix(host, "."+d)) && len(d) > bestLen {
				best, bestLen = e.p, len(d)
			}
		}
	}
	return best, bestLen > 0
}

// Username is the login name a preset expects for an address.
func (p Preset) Username(email string) string {
	if p.LocalPartLogin {
		if at := strings.LastIndexByte(email, '@'); at >= 0 {
			return email[:at]
		}
	}
	return email
}
