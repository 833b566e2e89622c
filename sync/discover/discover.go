// Package discover finds the IMAP and SMTP settings for an email address the
// way Thunderbird does: built-in presets (sync/providers), the
// provider's autoconfig file, the Thunderbird-style well-known file, the MX
// host's base domain, RFC 6186/8314 SRV records, and finally guesses checked
// by connecting. Every result names the step that found it, so the first-run
// screen can say so, and lists what was tried.
//
// Nothing found is ever downgraded: a server without encryption is accepted
// only on a loopback address (Proton Mail Bridge and the like).
package discover

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/providers"
)

// Sources, as Settings.Source names them.
const (
	SourcePreset     = "built-in preset"
	SourceAutoconfig = "provider's autoconfig"
	SourceWellKnown  = "Thunderbird-style well-known file"
	SourceMX         = "MX base domain"
	SourceSRV        = "SRV records"
	SourceGuess      = "guess"
)

// Server is one IMAP or SMTP server.
type Server struct {
	Host     string
	Port     int
	Security string // tls | starttls | plain (plain only for loopback hosts)
	Username string
}

// Settings are what discovery found for an address.
type Settings struct {
	Provider string
	IMAP     Server
	SMTP     *Server // nil when no usable outgoing server was found
	Source   string  // one of the Source* constants
	Advice   string  // e.g. "needs an app password"; may be empty
	Tried    []string
	// OAuth2 is the provider that signs the account in ("microsoft",
	// "google"; "" for a password) and Tenant its Microsoft tenant.
	OAuth2, Tenant string
}

// Resolver is the part of *net.Resolver discovery uses.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Discoverer finds settings; its zero value is ready to use.
type Discoverer struct {
	// HTTP fetches autoconfig files. Default: a 10 s timeout that refuses
	// redirects from https to http.
	HTTP *http.Client
	// Resolver answers MX, SRV and host lookups. Default: net.DefaultResolver.
	Resolver Resolver
	// AutoconfigURL lists the autoconfig URLs for a domain, best first.
	// "%EMAILADDRESS%" in a URL is replaced by the query-escaped address; a
	// URL containing "/.well-known/" counts as the well-known file, any other
	// as the provider's autoconfig. Default: DefaultAutoconfigURLs.
	AutoconfigURL func(domain string) []string
	// Dial connects for the guesses' checks. Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig verifies the guesses' TLS (ServerName is set per host).
	// Default: the system roots, TLS 1.2 or later.
	TLSConfig *tls.Config
}

// DefaultAutoconfigURLs is Thunderbird's pair: the provider's autoconfig
// host, then the domain's well-known file.
func DefaultAutoconfigURLs(domain string) []string {
	return []string{
		"https://autoconfig." + domain + "/mail/config-v1.1.xml?emailaddress=%EMAILADDRESS%",
		"https://" + domain + "/.well-known/autoconfig/mail/config-v1.1.xml",
	}
}

// NotFoundError says that no step found settings, and what was tried.
type NotFoundError struct {
	Domain string
	Steps  []string // the steps, in order
	Tried  []string // each attempt and its outcome
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no settings found for %s: tried %s; enter them by hand", e.Domain, strings.Join(e.Steps, ", "))
}

const (
	httpTimeout  = 10 * time.Second
	probeTimeout = 8 * time.Second
)

var defaultHTTP = &http.Client{
	Timeout: httpTimeout,
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return errors.New("refused redirect from https to " + req.URL.Scheme)
		}
		return nil
	},
}

func (d *Discoverer) httpClient() *http.Client {
	if d.HTTP != nil {
		return d.HTTP
	}
	return defaultHTTP
}

func (d *Discoverer) resolver() Resolver {
	if d.Resolver != nil {
		return d.Resolver
	}
	return net.DefaultResolver
}

func (d *Discoverer) autoconfigURLs(domain string) []string {
	if d.AutoconfigURL != nil {
		return d.AutoconfigURL(domain)
	}
	return DefaultAutoconfigURLs(domain)
}

func (d *Discoverer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.Dial != nil {
		return d.Dial(ctx, network, addr)
	}
	dl := net.Dialer{Timeout: probeTimeout}
	return dl.DialContext(ctx, network, addr)
}

// Discover finds the settings for email. The steps, in order: built-in
// preset, provider's autoconfig and well-known file (fetched together, the
// autoconfig preferred), MX host (a preset for it, else the autoconfig of its
// base domain), SRV records, guesses checked by connecting. Every step is
// bounded by ctx; when ctx ends first its error is returned, wrapped. When
// nothing is found the error is a *NotFoundError.
func (d *Discoverer) Discover(ctx context.Context, email string) (*Settings, error) {
	if d == nil {
		d = &Discoverer{}
	}
	local, domain, err := splitEmail(email)
	if err != nil {
		return nil, err
	}
	r := &run{d: d, email: local + "@" + domain, domain: domain}
	for _, step := range []func(context.Context) *Settings{r.preset, r.autoconfig, r.mx, r.srv, r.guess} {
		if err := ctxErr(ctx); err != nil {
			return nil, r.stopped(err)
		}
		if s := step(ctx); s != nil {
			if !secure(&s.IMAP) {
				r.note("%s: refused unencrypted IMAP at %s", s.Source, s.IMAP.Host)
				continue
			}
			if s.SMTP != nil && !secure(s.SMTP) {
				r.note("%s: refused unencrypted SMTP at %s", s.Source, s.SMTP.Host)
				s.SMTP = nil
			}
			s.Tried = r.tried
			return s, nil
		}
	}
	if err := ctxErr(ctx); err != nil {
		return nil, r.stopped(err)
	}
	return nil, &NotFoundError{Domain: domain, Steps: r.steps, Tried: r.tried}
}

// ctxErr is ctx.Err, also when the deadline has passed but ctx's timer has
// not fired yet (connection deadlines taken from ctx can fire first).
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// secure: never downgrade; plain only on loopback.
func secure(s *Server) bool {
	switch s.Security {
	case "tls", "starttls":
		return true
	case "plain":
		return isLoopback(s.Host)
	}
	return false
}

// run is one Discover call's state.
type run struct {
	d             *Discoverer
	email, domain string

	mu    sync.Mutex
	steps []string
	tried []string
}

func (r *run) step(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, name)
}

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tried = append(r.tried, fmt.Sprintf(format, args...))
}

func (r *run) stopped(err error) error {
	tried := "nothing"
	if len(r.steps) > 0 {
		tried = strings.Join(r.steps, ", ")
	}
	return fmt.Errorf("discovering settings for %s stopped: %w (tried %s)", r.domain, err, tried)
}

func splitEmail(email string) (local, domain string, err error) {
	email = strings.TrimSpace(email)
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return "", "", fmt.Errorf("%q is not an email address", email)
	}
	local = email[:at]
	domain = strings.TrimSuffix(strings.ToLower(email[at+1:]), ".")
	if !validHost(domain) || !strings.Contains(domain, ".") || net.ParseIP(domain) != nil ||
		strings.ContainsAny(local, " \t\r\n") {
		return "", "", fmt.Errorf("%q is not an email address", email)
	}
	return local, domain, nil
}

func fromPreset(p providers.Preset, email, source string) *Settings {
	user := p.Username(email)
	s := &Settings{
		Provider: p.Name,
		IMAP:     Server{Host: p.Host, Port: p.Port, Security: p.Security, Username: user},
		Source:   source,
		Advice:   p.Advice,
		OAuth2:   p.OAuth2,
		Tenant:   p.Tenant,
	}
	if p.SMTPHost != "" {
		s.SMTP = &Server{Host: p.SMTPHost, Port: p.SMTPPort, Security: p.SMTPSecurity, Username: user}
	}
	return s
}

// Step 1: built-in presets.
func (r *run) preset(context.Context) *Settings {
	r.step("built-in presets")
	p, ok := providers.ForEmail(r.email)
	if !ok {
		r.note("built-in presets: none for %s", r.domain)
		return nil
	}
	r.note("built-in presets: %s", p.Name)
	return fromPreset(p, r.email, SourcePreset)
}

// Steps 2 and 3: the provider's autoconfig and the well-known file, fetched
// at once, the first in AutoconfigURL's order winning.
func (r *run) autoconfig(ctx context.Context) *Settings {
	urls := r.d.autoconfigURLs(r.domain)
	seen := map[string]bool{}
	for _, u := range urls {
		if src := urlSource(u); !seen[src] {
			seen[src] = true
			r.step(src)
		}
	}
	s := r.fetchFirst(ctx, urls, "")
	if s == nil && len(urls) == 0 {
		r.note("autoconfig: no URLs to try")
	}
	return s
}

func urlSource(u string) string {
	if strings.Contains(u, "/.well-known/") {
		return SourceWellKnown
	}
	return SourceAutoconfig
}

// fetchFirst fetches all urls in parallel and returns the first (in order)
// that gives usable settings. source overrides the per-URL source name.
func (r *run) fetchFirst(ctx context.Context, urls []string, source string) *Settings {
	if len(urls) == 0 {
		return nil
	}
	label := func(u string) string {
		l := urlSource(u)
		if source != "" {
			l = source
		}
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i] // the query holds the address: keep the details short
		}
		return l + " " + u
	}
	i, s, errs := firstOK(ctx, len(urls), func(ctx context.Context, i int) (*Settings, error) {
		return r.fetch(ctx, urls[i])
	})
	for j, err := range errs {
		r.note("%s: %v", label(urls[j]), err)
	}
	if i < 0 {
		return nil
	}
	s.Source = urlSource(urls[i])
	if source != "" {
		s.Source = source
	}
	r.note("%s: found %s", label(urls[i]), s.IMAP.Host)
	return s
}

func (r *run) fetch(ctx context.Context, rawURL string) (*Settings, error) {
	rawURL = strings.ReplaceAll(rawURL, "%EMAILADDRESS%", url.QueryEscape(r.email))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/xml, text/xml;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "Lifeboat")
	resp, err := r.d.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the label already
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return ParseAutoconfig(resp.Body, r.email)
}

// Step 4: the MX host. A preset that knows the host (Google Workspace,
// Microsoft 365, ...) wins; else the autoconfig of the host's parent and
// base domains, when they differ from the address's own.
func (r *run) mx(ctx context.Context) *Settings {
	r.step(SourceMX)
	mxs, err := r.d.resolver().LookupMX(ctx, r.domain)
	if err != nil {
		r.note("MX records for %s: %v", r.domain, dnsErr(err))
		return nil
	}
	host := ""
	for _, mx := range mxs {
		if h := strings.TrimSuffix(strings.ToLower(mx.Host), "."); h != "" && validHost(h) {
			host = h
			break
		}
	}
	if host == "" {
		r.note("MX records for %s: none", r.domain)
		return nil
	}
	if p, ok := providers.ForMXHost(host); ok {
		r.note("MX %s: %s preset", host, p.Name)
		s := fromPreset(p, r.email, SourceMX)
		if p.LocalPartLogin {
			// the local-part rule holds for the provider's own domains only
			s.IMAP.Username = r.email
			if s.SMTP != nil {
				s.SMTP.Username = r.email
			}
			s.Advice += " With your own domain, the user name may be your " + p.Name + " address instead."
		}
		return s
	}
	base := baseDomain(host)
	var cands []string
	if _, parent, ok := strings.Cut(host, "."); ok && parent != base && strings.HasSuffix(parent, "."+base) {
		cands = append(cands, parent)
	}
	cands = append(cands, base)
	var urls []string
	for _, c := range cands {
		if c == r.domain || !strings.Contains(c, ".") {
			continue
		}
		urls = append(urls, r.d.autoconfigURLs(c)...)
	}
	if len(urls) == 0 {
		r.note("MX %s: base domain %s is the address's own (autoconfig already tried)", host, base)
		return nil
	}
	r.note("MX %s: base domain %s", host, base)
	return r.fetchFirst(ctx, urls, SourceMX)
}

// Step 5: RFC 6186 / RFC 8314 SRV records (implicit TLS preferred).
func (r *run) srv(ctx context.Context) *Settings {
	r.step(SourceSRV)
	type query struct {
		service, security string
		target            string
		port              int
		err               error
	}
	qs := []*query{
		{service: "imaps", security: "tls"},
		{service: "imap", security: "starttls"}, // never plain: STARTTLS or nothing
		{service: "submissions", security: "tls"},
		{service: "submission", security: "starttls"},
	}
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Go(func() {
			_, addrs, err := r.d.resolver().LookupSRV(ctx, q.service, "tcp", r.domain)
			if err != nil {
				q.err = dnsErr(err)
				return
			}
			for _, a := range addrs {
				t := strings.TrimSuffix(strings.ToLower(a.Target), ".")
				if t != "" && a.Port != 0 && validHost(t) { // "." means "not offered" (RFC 2782)
					q.target, q.port = t, int(a.Port)
					return
				}
			}
			q.err = errors.New("service not offered")
		})
	}
	wg.Wait()
	var found [2]*query // imap, smtp
	for i, q := range qs {
		name := "_" + q.service + "._tcp." + r.domain
		if q.err != nil {
			r.note("SRV %s: %v", name, q.err)
			continue
		}
		r.note("SRV %s: %s:%d", name, q.target, q.port)
		if found[i/2] == nil {
			found[i/2] = q
		}
	}
	if found[0] == nil {
		return nil
	}
	s := &Settings{
		Provider: r.domain,
		IMAP:     Server{Host: found[0].target, Port: found[0].port, Security: found[0].security, Username: r.email},
		Source:   SourceSRV,
		Advice:   "The user name is assumed to be the full address.",
	}
	if q := found[1]; q != nil {
		s.SMTP = &Server{Host: q.target, Port: q.port, Security: q.security, Username: r.email}
	}
	return s
}

// firstOK runs f(0..n-1) concurrently and returns the lowest i whose call
// succeeded, with the errors of the calls before it. The rest are cancelled.
// i is -1 when none succeeded (or ctx ended first).
func firstOK[T any](ctx context.Context, n int, f func(ctx context.Context, i int) (T, error)) (int, T, []error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	chans := make([]chan result, n)
	for i := range chans {
		chans[i] = make(chan result, 1)
		go func() {
			v, err := f(ctx, i)
			chans[i] <- result{v, err}
		}()
	}
	var zero T
	var errs []error
	for i := range chans {
		select {
		case res := <-chans[i]:
			if res.err == nil {
				return i, res.v, errs
			}
			errs = append(errs, res.err)
		case <-ctx.Done():
			for range chans[i:] {
				errs = append(errs, ctx.Err())
			}
			return -1, zero, errs
		}
	}
	return -1, zero, errs
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// dnsErr says "none" for a name without records.
func dnsErr(err error) error {
	if isNotFound(err) {
		return errors.New("none")
	}
	return err
}

// twoLevel holds second-level labels under which country domains register
// names (example.co.uk), for baseDomain. The standard library has no public
// suffix list; this covers the common cases.
var twoLevel = map[string]bool{
	"ac": true, "co": true, "com": true, "edu": true, "gov": true, "ltd": true,
	"ne": true, "net": true, "or": true, "org": true, "plc": true, "sch": true,
}

// baseDomain is a host's registrable domain: aspmx.l.google.com →
// google.com, mx.example.co.uk → example.co.uk.
func baseDomain(host string) string {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	n := len(labels)
	if n <= 2 {
		return strings.Join(labels, ".")
	}
	if len(labels[n-1]) == 2 && twoLevel[labels[n-2]] {
		return strings.Join(labels[n-3:], ".")
	}
	return strings.Join(labels[n-2:], ".")
}
