package discover

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxConfigSize bounds an autoconfig document (real ones are a few KiB).
const maxConfigSize = 1 << 20

type xmlConfig struct {
	XMLName   xml.Name      `xml:"clientConfig"`
	Providers []xmlProvider `xml:"emailProvider"`
}

type xmlProvider struct {
	ID          string      `xml:"id,attr"`
	DisplayName string      `xml:"displayName"`
	ShortName   string      `xml:"displayShortName"`
	Incoming    []xmlServer `xml:"incomingServer"`
	Outgoing    []xmlServer `xml:"outgoingServer"`
	Enable      []struct {
		VisitURL     string `xml:"visiturl,attr"`
		Instructions []struct {
			Lang string `xml:"lang,attr"`
			Text string `xml:",chardata"`
		} `xml:"instruction"`
	} `xml:"enable"`
}

type xmlServer struct {
	Type       string   `xml:"type,attr"`
	Hostname   string   `xml:"hostname"`
	Port       string   `xml:"port"`
	SocketType string   `xml:"socketType"`
	Username   string   `xml:"username"`
	Auth       []string `xml:"authentication"`
}

// ParseAutoconfig reads a Thunderbird autoconfig document (config-v1.1.xml)
// and returns the IMAP and SMTP servers for email. Placeholders
// (%EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN%) are filled in, socket
// types map to tls (SSL), starttls (STARTTLS) and plain; when several servers
// are offered the first implicit-TLS one wins, then the first STARTTLS one.
// Unencrypted servers are dropped unless the host is a loopback address.
// An IMAP server is required; SMTP is nil when none is usable. Source is left
// empty for the caller to fill in.
func ParseAutoconfig(r io.Reader, email string) (*Settings, error) {
	local, domain, err := splitEmail(email)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, errors.New("autoconfig document too large")
	}
	var cfg xmlConfig
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = charsetReader
	dec.Strict = false // real files carry typos such as "&amP;"
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("not an autoconfig document: %w", err)
	}
	if len(cfg.Providers) == 0 {
		return nil, errors.New("autoconfig document has no emailProvider")
	}
	p := cfg.Providers[0]
	fill := strings.NewReplacer(
		"%EMAILADDRESS%", local+"@"+domain,
		"%EMAILLOCALPART%", local,
		"%EMAILDOMAIN%", domain,
	).Replace

	s := &Settings{Provider: firstNonEmpty(p.DisplayName, p.ShortName, p.ID, domain)}
	imap, dropped := pick(p.Incoming, "imap", email, fill)
	if imap == nil {
		if dropped > 0 {
			return nil, errors.New("autoconfig offers IMAP only without encryption (refused)")
		}
		return nil, errors.New("autoconfig has no IMAP server")
	}
	s.IMAP = imap.Server
	smtp, _ := pick(p.Outgoing, "smtp", email, fill)
	var advice []string
	if smtp != nil {
		s.SMTP = &smtp.Server
	} else {
		advice = append(advice, "No encrypted SMTP server was offered; enter the outgoing server by hand.")
	}
	if imap.oauthOnly {
		advice = append(advice, "This provider accepts only OAuth2 sign-in for IMAP.")
	}
	for _, en := range p.Enable {
		a := ""
		for _, in := range en.Instructions { // English (or unmarked) first
			t := strings.Join(strings.Fields(in.Text), " ")
			if en := in.Lang == "" || strings.HasPrefix(strings.ToLower(in.Lang), "en"); t != "" && (a == "" || en) {
				a = t
				if en {
					break
				}
			}
		}
		if a == "" {
			a = "Switch IMAP on in the provider's settings first."
		}
		if u := strings.TrimSpace(en.VisitURL); u != "" {
			a += " (" + u + ")"
		}
		advice = append(advice, a)
	}
	s.Advice = strings.Join(advice, " ")
	return s, nil
}

type candidate struct {
	Server
	rank      int
	oauthOnly bool
}

// pick chooses the best server of type typ: implicit TLS over STARTTLS,
// document order within a kind; plain only for loopback hosts. dropped counts
// servers refused for lack of encryption.
func pick(list []xmlServer, typ, email string, fill func(string) string) (best *candidate, dropped int) {
	for _, x := range list {
		if !strings.EqualFold(strings.TrimSpace(x.Type), typ) {
			continue
		}
		c := candidate{}
		switch strings.ToUpper(strings.TrimSpace(x.SocketType)) {
		case "SSL", "TLS":
			c.Security, c.rank = "tls", 0
		case "STARTTLS":
			c.Security, c.rank = "starttls", 1
		case "PLAIN", "":
			c.Security, c.rank = "plain", 2
		default:
			continue
		}
		c.Host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(fill(x.Hostname))), ".")
		if !validHost(c.Host) {
			continue
		}
		if c.Security == "plain" && !isLoopback(c.Host) {
			dropped++
			continue
		}
		if p := strings.TrimSpace(x.Port); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				continue
			}
			c.Port = n
		} else {
			c.Port = defaultPort(typ, c.Security)
		}
		c.Username = strings.TrimSpace(fill(x.Username))
		if c.Username == "" {
			c.Username = email
		}
		c.oauthOnly = oauthOnly(x.Auth)
		if best == nil || c.rank < best.rank {
			best = &c
		}
	}
	return best, dropped
}

func oauthOnly(auth []string) bool {
	oauth, other := false, false
	for _, a := range auth {
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "oauth2":
			oauth = true
		case "":
		default:
			other = true
		}
	}
	return oauth && !other
}

func defaultPort(typ, security string) int {
	switch {
	case typ == "imap" && security == "tls":
		return 993
	case typ == "imap":
		return 143
	case security == "tls":
		return 465
	default:
		return 587
	}
}

// charsetReader accepts the encodings autoconfig files are found in.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1", "windows-1252":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(b))
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}

// validHost accepts DNS names and IP literals, nothing that could smuggle a
// path, port or user into a later connection.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		case r >= utf8.RuneSelf:
		default:
			return false
		}
	}
	return !strings.HasPrefix(h, ".") && !strings.Contains(h, "..")
}

func isLoopback(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x = strings.TrimSpace(x); x != "" {
			return x
		}
	}
	return ""
}
