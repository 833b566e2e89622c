// Package providers knows the IMAP settings of well-known mail providers
// (PRODUCT.md §7), so an account can be set up from an address alone.
package providers

import "strings"

// Preset is one provider's IMAP settings and what a user must know.
type Preset struct {
	Name     string
	Host     string
	Port     int
	Security string // tls | starttls
	// LocalPartLogin: the user name is the part before '@' (iCloud).
	LocalPartLogin bool
	Advice         string
}

var presets = []struct {
	domains []string
	p       Preset
}{
	{[]string{"gmail.com", "googlemail.com"}, Preset{Name: "Gmail", Host: "imap.gmail.com", Port: 993, Security: "tls",
		Advice: "Gmail needs an app password (Google Account → Security → 2-Step Verification → App passwords)."}},
	{[]string{"outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "live.co.uk", "msn.com"}, Preset{Name: "Outlook.com", Host: "outlook.office365.com", Port: 993, Security: "tls",
		Advice: "Outlook.com accepts only OAuth2 sign-in for IMAP since September 2024; password login will be refused."}},
	{[]string{"btinternet.com", "btopenworld.com", "talk21.com"}, Preset{Name: "BT Mail", Host: "mail.btinternet.com", Port: 993, Security: "tls",
		Advice: "BT may require an app password for mail programs (My BT → Security)."}},
	{[]string{"yahoo.com", "yahoo.co.uk", "ymail.com"}, Preset{Name: "Yahoo Mail", Host: "imap.mail.yahoo.com", Port: 993, Security: "tls",
		Advice: "Yahoo needs an app password (Account security → Generate app password)."}},
	{[]string{"aol.com"}, Preset{Name: "AOL Mail", Host: "imap.aol.com", Port: 993, Security: "tls",
		Advice: "AOL needs an app password (Account security → Generate app password)."}},
	{[]string{"icloud.com", "me.com", "mac.com"}, Preset{Name: "iCloud Mail", Host: "imap.mail.me.com", Port: 993, Security: "tls", LocalPartLogin: true,
		Advice: "iCloud needs an app-specific password (appleid.apple.com → Sign-In and Security)."}},
	{[]string{"fastmail.com", "fastmail.fm"}, Preset{Name: "Fastmail", Host: "imap.fastmail.com", Port: 993, Security: "tls",
		Advice: "Fastmail needs an app password (Settings → Privacy & Security → App passwords)."}},
	{[]string{"gmx.com", "gmx.co.uk"}, Preset{Name: "GMX", Host: "imap.gmx.com", Port: 993, Security: "tls",
		Advice: "GMX has IMAP switched off until you enable it (Settings → POP3 & IMAP)."}},
	{[]string{"gmx.net", "gmx.de"}, Preset{Name: "GMX", Host: "imap.gmx.net", Port: 993, Security: "tls",
		Advice: "GMX has IMAP switched off until you enable it (Einstellungen → POP3 & IMAP)."}},
	{[]string{"zoho.com", "zohomail.com"}, Preset{Name: "Zoho Mail", Host: "imap.zoho.com", Port: 993, Security: "tls",
		Advice: "Zoho needs IMAP access enabled and, with two-factor sign-in, an app password."}},
	{[]string{"proton.me", "protonmail.com", "pm.me"}, Preset{Name: "Proton Mail Bridge", Host: "127.0.0.1", Port: 1143, Security: "starttls",
		Advice: "Proton works through Proton Mail Bridge: use the Bridge password, and set tls_ca_file to the certificate Bridge exports."}},
}

// ForEmail returns the preset for an address's domain.
func ForEmail(email string) (Preset, bool) {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return Preset{}, false
	}
	domain := strings.ToLower(email[at+1:])
	for _, e := range presets {
		for _, d := range e.domains {
			if d == domain {
				return e.p, true
			}
		}
	}
	return Preset{}, false
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
