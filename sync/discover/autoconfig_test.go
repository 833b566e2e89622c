package discover

import (
	"strings"
	"testing"
)

// Trimmed from Thunderbird's ISPDB (github.com/thunderbird/autoconfig,
// ispdb/gmx.net.xml), typo "&amP;" included: real files are not all valid XML.
const gmxNetXML = `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="gmx.net">
    <domain>gmx.net</domain>
    <domain>gmx.de</domain>
    <displayName>GMX Freemail</displayName>
    <displayShortName>GMX</displayShortName>
    <!-- imap officially costs money, but actually works with freemail accounts, too -->
    <incomingServer type="imap">
      <hostname>imap.gmx.net</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.gmx.net</hostname>
      <port>143</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.gmx.net</hostname>
      <port>995</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>mail.gmx.net</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>mail.gmx.net</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
    <documentation url="https://hilfe.gmx.net/pop-imap/imap/imap-serverdaten.html" />
    <enable visiturl="https://hilfe.gmx.net/pop-imap/einschalten.html">
      <instruction lang="de">Sie müssen einmalig den Zugriff über POP3 &amp; IMAP in den E-Mail-Einstellungen Ihres Kontos erlauben!</instruction>
      <instruction>You must allow access via POP3 &amP; IMAP once in the e-mail settings of your account!</instruction>
    </enable>
  </emailProvider>
</clientConfig>
<!-- A whole lot of vanity domains, which we will not add here (yay MX lookup) -->
`

// From ispdb/office365.com: STARTTLS-only SMTP, POP3 with its own element.
const office365XML = `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="office365.com">
    <domain>office365.com</domain>
    <domain>mail.protection.outlook.com</domain>
    <displayName>Office365 (Microsoft)</displayName>
    <displayShortName>Office365</displayShortName>
    <incomingServer type="pop3">
      <hostname>outlook.office365.com</hostname>
      <port>995</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
      <pop3><leaveMessagesOnServer>true</leaveMessagesOnServer></pop3>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>outlook.office365.com</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <authentication>OAuth2</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.office365.com</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
      <authentication>OAuth2</authentication>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>`

func TestParseAutoconfigGMX(t *testing.T) {
	s, err := ParseAutoconfig(strings.NewReader(gmxNetXML), "Jane.Doe@gmx.net")
	if err != nil {
		t.Fatal(err)
	}
	want := Server{Host: "imap.gmx.net", Port: 993, Security: "tls", Username: "Jane.Doe@gmx.net"}
	if s.IMAP != want || s.Provider != "GMX Freemail" {
		t.Errorf("IMAP %+v provider %q", s.IMAP, s.Provider)
	}
	if s.SMTP == nil || *s.SMTP != (Server{Host: "mail.gmx.net", Port: 465, Security: "tls", Username: "Jane.Doe@gmx.net"}) {
		t.Errorf("SMTP %+v", s.SMTP)
	}
	if !strings.Contains(s.Advice, "You must allow access via POP3") || !strings.Contains(s.Advice, "https://hilfe.gmx.net/pop-imap/einschalten.html") {
		t.Errorf("advice %q", s.Advice)
	}
}

func TestParseAutoconfigOffice365(t *testing.T) {
	s, err := ParseAutoconfig(strings.NewReader(office365XML), "a@contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	if s.IMAP != (Server{"outlook.office365.com", 993, "tls", "a@contoso.com"}) {
		t.Errorf("IMAP %+v (POP3 must be skipped)", s.IMAP)
	}
	if s.SMTP == nil || *s.SMTP != (Server{"smtp.office365.com", 587, "starttls", "a@contoso.com"}) {
		t.Errorf("SMTP %+v", s.SMTP)
	}
	if !strings.Contains(s.Advice, "OAuth2") {
		t.Errorf("advice %q", s.Advice)
	}
}

func TestParseAutoconfigPlaceholdersAndPreference(t *testing.T) {
	const doc = `<clientConfig version="1.1"><emailProvider id="example.org">
	<incomingServer type="imap"><hostname>imap.%EMAILDOMAIN%</hostname><port>143</port><socketType>STARTTLS</socketType><username>%EMAILLOCALPART%</username></incomingServer>
	<incomingServer type="imap"><hostname>mail.%EMAILDOMAIN%</hostname><port>10993</port><socketType>SSL</socketType><username>%EMAILLOCALPART%+box@%EMAILDOMAIN%</username></incomingServer>
	<incomingServer type="imap"><hostname>second.example.org</hostname><port>993</port><socketType>SSL</socketType><username>x</username></incomingServer>
	<outgoingServer type="smtp"><hostname>smtp.%EMAILDOMAIN%</hostname><port>587</port><socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></outgoingServer>
	</emailProvider></clientConfig>`
	s, err := ParseAutoconfig(strings.NewReader(doc), "bob@Example.ORG")
	if err != nil {
		t.Fatal(err)
	}
	// SSL beats STARTTLS; the first SSL one wins
	if s.IMAP != (Server{"mail.example.org", 10993, "tls", "bob+box@example.org"}) {
		t.Errorf("IMAP %+v", s.IMAP)
	}
	if s.SMTP == nil || *s.SMTP != (Server{"smtp.example.org", 587, "starttls", "bob@example.org"}) {
		t.Errorf("SMTP %+v", s.SMTP)
	}
	if s.Provider != "example.org" {
		t.Errorf("provider %q", s.Provider)
	}
}

func TestParseAutoconfigPlainDropped(t *testing.T) {
	const onlyPlain = `<clientConfig><emailProvider id="x">
	<incomingServer type="imap"><hostname>imap.example.org</hostname><port>143</port><socketType>plain</socketType><username>%EMAILADDRESS%</username></incomingServer>
	<outgoingServer type="smtp"><hostname>smtp.example.org</hostname><port>25</port><socketType>plain</socketType></outgoingServer>
	</emailProvider></clientConfig>`
	if s, err := ParseAutoconfig(strings.NewReader(onlyPlain), "a@example.org"); err == nil || !strings.Contains(err.Error(), "without encryption") {
		t.Errorf("plain IMAP accepted: %+v %v", s, err)
	}

	const mixed = `<clientConfig><emailProvider id="x">
	<incomingServer type="imap"><hostname>imap.example.org</hostname><port>143</port><socketType>plain</socketType></incomingServer>
	<incomingServer type="imap"><hostname>imap.example.org</hostname><port>143</port><socketType>STARTTLS</socketType></incomingServer>
	<outgoingServer type="smtp"><hostname>smtp.example.org</hostname><port>25</port><socketType>plain</socketType></outgoingServer>
	</emailProvider></clientConfig>`
	s, err := ParseAutoconfig(strings.NewReader(mixed), "a@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.IMAP.Security != "starttls" || s.SMTP != nil {
		t.Errorf("IMAP %+v SMTP %+v", s.IMAP, s.SMTP)
	}
	if s.IMAP.Username != "a@example.org" {
		t.Errorf("missing username should default to the address: %q", s.IMAP.Username)
	}

	const loopback = `<clientConfig><emailProvider id="bridge">
	<incomingServer type="imap"><hostname>127.0.0.1</hostname><port>1143</port><socketType>plain</socketType></incomingServer>
	<outgoingServer type="smtp"><hostname>localhost</hostname><port>1025</port><socketType>plain</socketType></outgoingServer>
	</emailProvider></clientConfig>`
	s, err = ParseAutoconfig(strings.NewReader(loopback), "a@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.IMAP.Security != "plain" || s.SMTP == nil || s.SMTP.Security != "plain" {
		t.Errorf("loopback plain refused: %+v %+v", s.IMAP, s.SMTP)
	}
}

func TestParseAutoconfigRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"html":        `<!DOCTYPE html><html><body>Welcome to nginx!</body></html>`,
		"empty":       ``,
		"no server":   `<clientConfig><emailProvider id="x"><incomingServer type="pop3"><hostname>pop.x.org</hostname><socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>`,
		"bad host":    `<clientConfig><emailProvider id="x"><incomingServer type="imap"><hostname>evil.org/path</hostname><socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>`,
		"bad port":    `<clientConfig><emailProvider id="x"><incomingServer type="imap"><hostname>imap.x.org</hostname><port>99999</port><socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>`,
		"no provider": `<clientConfig version="1.1"></clientConfig>`,
	} {
		if s, err := ParseAutoconfig(strings.NewReader(doc), "a@x.org"); err == nil {
			t.Errorf("%s: accepted %+v", name, s)
		}
	}
	if _, err := ParseAutoconfig(strings.NewReader(gmxNetXML), "not-an-address"); err == nil {
		t.Error("bad address accepted")
	}
}

func TestParseAutoconfigLatin1(t *testing.T) {
	doc := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><clientConfig><emailProvider id=\"x\"><displayName>Caf\xe9 Mail</displayName>" +
		"<incomingServer type=\"imap\"><hostname>imap.x.org</hostname><socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>"
	s, err := ParseAutoconfig(strings.NewReader(doc), "a@x.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.Provider != "Café Mail" || s.IMAP.Port != 993 {
		t.Errorf("%+v", s)
	}
}
