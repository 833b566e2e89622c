package discover

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// fakeResolver answers from maps; anything else is "not found".
type fakeResolver struct {
	mx    map[string][]*net.MX
	srv   map[string][]*net.SRV // key "_imaps._tcp.example.org"
	hosts map[string]bool
	block bool // wait for ctx instead
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeResolver) wait(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if f.block {
		return nil, f.wait(ctx)
	}
	if mx, ok := f.mx[name]; ok {
		return mx, nil
	}
	return nil, notFound(name)
}

func (f *fakeResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if f.block {
		return "", nil, f.wait(ctx)
	}
	key := "_" + service + "._" + proto + "." + name
	if s, ok := f.srv[key]; ok {
		return key, s, nil
	}
	return "", nil, notFound(key)
}

func (f *fakeResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	if f.block {
		return nil, f.wait(ctx)
	}
	if f.hosts[host] {
		return []string{"127.0.0.1"}, nil
	}
	return nil, notFound(host)
}

// acServer serves autoconfig files: path /ac/<domain> is the provider's
// autoconfig, /<domain>/.well-known/autoconfig/mail/config-v1.1.xml the
// well-known file.
type acServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]string // path → body
	delay map[string]time.Duration
	hits  []string
	query map[string]string // path → raw query seen
}

func newACServer(t *testing.T) *acServer {
	s := &acServer{files: map[string]string{}, delay: map[string]time.Duration{}, query: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits = append(s.hits, r.URL.Path)
		s.query[r.URL.Path] = r.URL.RawQuery
		body, ok := s.files[r.URL.Path]
		d := s.delay[r.URL.Path]
		s.mu.Unlock()
		if d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *acServer) urls(domain string) []string {
	return []string{
		s.URL + "/ac/" + domain + "?emailaddress=%EMAILADDRESS%",
		s.URL + "/" + domain + "/.well-known/autoconfig/mail/config-v1.1.xml",
	}
}

func (s *acServer) set(path, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = body
}

// newTestDiscoverer finds nothing anywhere until the test adds something.
func newTestDiscoverer(t *testing.T) (*Discoverer, *acServer, *fakeResolver) {
	ac := newACServer(t)
	res := &fakeResolver{mx: map[string][]*net.MX{}, srv: map[string][]*net.SRV{}, hosts: map[string]bool{}}
	d := &Discoverer{
		Resolver:      res,
		AutoconfigURL: ac.urls,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		},
	}
	return d, ac, res
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func xmlFor(imapHost, smtpHost string) string {
	return `<?xml version="1.0"?><clientConfig version="1.1"><emailProvider id="example.org">
<displayName>Example Mail</displayName>
<incomingServer type="imap"><hostname>` + imapHost + `</hostname><port>993</port><socketType>SSL</socketType><username>%EMAILADDRESS%</username></incomingServer>
<outgoingServer type="smtp"><hostname>` + smtpHost + `</hostname><port>465</port><socketType>SSL</socketType><username>%EMAILADDRESS%</username></outgoingServer>
</emailProvider></clientConfig>`
}

func TestPreset(t *testing.T) {
	d, ac, _ := newTestDiscoverer(t)
	s, err := d.Discover(ctxT(t), " Jane@GMail.com ")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourcePreset || s.Provider != "Gmail" {
		t.Errorf("%+v", s)
	}
	if s.IMAP != (Server{"imap.gmail.com", 993, "tls", "Jane@gmail.com"}) {
		t.Errorf("IMAP %+v", s.IMAP)
	}
	if s.SMTP == nil || *s.SMTP != (Server{"smtp.gmail.com", 465, "tls", "Jane@gmail.com"}) {
		t.Errorf("SMTP %+v", s.SMTP)
	}
	if !strings.Contains(s.Advice, "app password") || len(s.Tried) == 0 {
		t.Errorf("advice %q tried %q", s.Advice, s.Tried)
	}
	if len(ac.hits) != 0 {
		t.Errorf("a preset hit still fetched %v", ac.hits)
	}
	// iCloud logs in with the local part
	s, err = d.Discover(ctxT(t), "jane@icloud.com")
	if err != nil || s.IMAP.Username != "jane" || s.SMTP.Username != "jane" || s.SMTP.Port != 587 || s.SMTP.Security != "starttls" {
		t.Errorf("%+v %v", s, err)
	}
}

func TestAutoconfig(t *testing.T) {
	d, ac, _ := newTestDiscoverer(t)
	ac.set("/ac/example.org", xmlFor("imap.example.org", "smtp.example.org"))
	ac.set("/example.org/.well-known/autoconfig/mail/config-v1.1.xml", xmlFor("wellknown.example.org", "wellknown.example.org"))
	// the well-known file answers first, but the provider's autoconfig wins
	ac.delay["/ac/example.org"] = 50 * time.Millisecond
	s, err := d.Discover(ctxT(t), "jo+x@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourceAutoconfig || s.IMAP.Host != "imap.example.org" || s.SMTP.Host != "smtp.example.org" || s.Provider != "Example Mail" {
		t.Errorf("%+v %+v", s, s.SMTP)
	}
	if s.IMAP.Username != "jo+x@example.org" {
		t.Errorf("username %q", s.IMAP.Username)
	}
	ac.mu.Lock()
	q := ac.query["/ac/example.org"]
	ac.mu.Unlock()
	if q != "emailaddress=jo%2Bx%40example.org" {
		t.Errorf("query %q", q)
	}
	for _, tr := range s.Tried {
		if strings.Contains(tr, "emailaddress") {
			t.Errorf("address in details: %q", tr)
		}
	}
}

func TestWellKnownFallback(t *testing.T) {
	d, ac, _ := newTestDiscoverer(t)
	ac.set("/example.org/.well-known/autoconfig/mail/config-v1.1.xml", xmlFor("mail.example.org", "mail.example.org"))
	s, err := d.Discover(ctxT(t), "jo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourceWellKnown || s.IMAP.Host != "mail.example.org" {
		t.Errorf("%+v", s)
	}
	if !strings.Contains(strings.Join(s.Tried, "\n"), "provider's autoconfig "+ac.URL+"/ac/example.org: HTTP 404") {
		t.Errorf("tried %q", s.Tried)
	}
}

func TestAutoconfigPlainOnlyIsSkipped(t *testing.T) {
	d, ac, _ := newTestDiscoverer(t)
	ac.set("/ac/example.org", `<clientConfig><emailProvider id="x"><incomingServer type="imap"><hostname>imap.example.org</hostname><port>143</port><socketType>plain</socketType></incomingServer></emailProvider></clientConfig>`)
	_, err := d.Discover(ctxT(t), "jo@example.org")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(strings.Join(nf.Tried, "\n"), "without encryption") {
		t.Errorf("%v", err)
	}
}

func TestMXPreset(t *testing.T) {
	d, ac, res := newTestDiscoverer(t)
	res.mx["example.org"] = []*net.MX{{Host: "ASPMX.L.GOOGLE.COM.", Pref: 1}, {Host: "alt1.aspmx.l.google.com.", Pref: 5}}
	s, err := d.Discover(ctxT(t), "boss@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourceMX || s.Provider != "Gmail" || s.IMAP.Host != "imap.gmail.com" || s.SMTP.Host != "smtp.gmail.com" || s.IMAP.Username != "boss@example.org" {
		t.Errorf("%+v", s)
	}
	if len(ac.hits) != 2 { // autoconfig and well-known were tried first
		t.Errorf("hits %v", ac.hits)
	}

	res.mx["contoso.com"] = []*net.MX{{Host: "contoso-com.mail.protection.outlook.com.", Pref: 0}}
	s, err = d.Discover(ctxT(t), "a@contoso.com")
	if err != nil || s.Provider != "Microsoft 365" || s.SMTP.Host != "smtp.office365.com" || s.SMTP.Security != "starttls" {
		t.Errorf("%+v %v", s, err)
	}

	// iCloud custom domain: the full address, not the local part
	res.mx["family.example"] = []*net.MX{{Host: "mx01.mail.icloud.com.", Pref: 10}}
	s, err = d.Discover(ctxT(t), "mum@family.example")
	if err != nil || s.Provider != "iCloud Mail" || s.IMAP.Username != "mum@family.example" {
		t.Errorf("%+v %v", s, err)
	}
}

func TestMXBaseDomainAutoconfig(t *testing.T) {
	d, ac, res := newTestDiscoverer(t)
	res.mx["example.org"] = []*net.MX{{Host: "mx1.mail.hostingco.net.", Pref: 10}}
	ac.set("/ac/hostingco.net", xmlFor("imap.hostingco.net", "smtp.hostingco.net"))
	s, err := d.Discover(ctxT(t), "jo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourceMX || s.IMAP.Host != "imap.hostingco.net" || s.IMAP.Username != "jo@example.org" {
		t.Errorf("%+v", s)
	}
	joined := strings.Join(s.Tried, "\n")
	// the MX host's parent domain is asked first, then the base domain
	if !strings.Contains(joined, "/ac/mail.hostingco.net: HTTP 404") || !strings.Contains(joined, "MX mx1.mail.hostingco.net: base domain hostingco.net") {
		t.Errorf("tried %s", joined)
	}
}

func TestMXSameDomainSkipsToNext(t *testing.T) {
	d, ac, res := newTestDiscoverer(t)
	res.mx["example.org"] = []*net.MX{{Host: "mx.example.org.", Pref: 10}}
	_, err := d.Discover(ctxT(t), "jo@example.org")
	if err == nil || !strings.Contains(err.Error(), "no settings found") {
		t.Fatal(err)
	}
	if len(ac.hits) != 2 {
		t.Errorf("autoconfig fetched again for the same domain: %v", ac.hits)
	}
}

func TestSRV(t *testing.T) {
	d, _, res := newTestDiscoverer(t)
	res.srv["_imaps._tcp.example.org"] = []*net.SRV{{Target: ".", Port: 0}} // not offered
	res.srv["_imap._tcp.example.org"] = []*net.SRV{{Target: "imap.provider.net.", Port: 143, Priority: 10}}
	res.srv["_submissions._tcp.example.org"] = []*net.SRV{{Target: "smtp.provider.net.", Port: 465}}
	res.srv["_submission._tcp.example.org"] = []*net.SRV{{Target: "smtp.provider.net.", Port: 587}}
	s, err := d.Discover(ctxT(t), "jo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourceSRV {
		t.Fatalf("%+v", s)
	}
	if s.IMAP != (Server{"imap.provider.net", 143, "starttls", "jo@example.org"}) {
		t.Errorf("IMAP %+v", s.IMAP)
	}
	if s.SMTP == nil || *s.SMTP != (Server{"smtp.provider.net", 465, "tls", "jo@example.org"}) {
		t.Errorf("SMTP %+v", s.SMTP)
	}
	if !strings.Contains(strings.Join(s.Tried, "\n"), "SRV _imaps._tcp.example.org: service not offered") {
		t.Errorf("tried %q", s.Tried)
	}

	// submission alone is not enough
	d, _, res = newTestDiscoverer(t)
	res.srv["_submission._tcp.example.org"] = []*net.SRV{{Target: "smtp.provider.net.", Port: 587}}
	if _, err := d.Discover(ctxT(t), "jo@example.org"); err == nil {
		t.Error("SMTP-only SRV accepted")
	}
}

func TestNothingFound(t *testing.T) {
	d, _, _ := newTestDiscoverer(t)
	_, err := d.Discover(ctxT(t), "jo@example.org")
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("%T %v", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"no settings found for example.org: tried ", "built-in presets", SourceAutoconfig, SourceWellKnown, SourceMX, SourceSRV, "guesses", "; enter them by hand"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	joined := strings.Join(nf.Tried, "\n")
	for _, want := range []string{"built-in presets: none for example.org", "HTTP 404", "MX records for example.org: none", "SRV _submissions._tcp.example.org: none", "guess imap.example.org: no such host"} {
		if !strings.Contains(joined, want) {
			t.Errorf("tried lacks %q:\n%s", want, joined)
		}
	}
}

func TestBadAddress(t *testing.T) {
	d, _, _ := newTestDiscoverer(t)
	for _, e := range []string{"", "jo", "@example.org", "jo@", "jo@localhost", "jo@exa/mple.org", "jo@[127.0.0.1]", "jo@1.2.3.4", "jo@ex ample.org"} {
		if _, err := d.Discover(ctxT(t), e); err == nil || !strings.Contains(err.Error(), "not an email address") {
			t.Errorf("%q: %v", e, err)
		}
	}
}

func TestContextBounds(t *testing.T) {
	d, ac, res := newTestDiscoverer(t)
	res.block = true
	ac.set("/ac/example.org", xmlFor("a.example.org", "a.example.org"))
	ac.delay["/ac/example.org"] = time.Hour
	ac.delay["/example.org/.well-known/autoconfig/mail/config-v1.1.xml"] = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := d.Discover(ctx, "jo@example.org")
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "example.org") {
		t.Errorf("%v", err)
	}

	// the guesses' connections are bounded too
	d, _, res = newTestDiscoverer(t)
	res.hosts["imap.example.org"] = true
	ln := listen(t)
	go func() { // accepts, never greets
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	d.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, network, ln.Addr().String())
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	start = time.Now()
	_, err = d.Discover(ctx2, "jo@example.org")
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("guess took %v", el)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v", err)
	}

	// a cancelled context stops before anything is tried
	ctx3, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, err := d.Discover(ctx3, "jo@example.org"); !errors.Is(err, context.Canceled) {
		t.Errorf("%v", err)
	}
}

func TestRedirectDowngradeRefused(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, xmlFor("imap.example.org", "smtp.example.org"))
	}))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/x", http.StatusFound))
	defer secure.Close()
	client := &http.Client{Transport: secure.Client().Transport, CheckRedirect: defaultHTTP.CheckRedirect}
	d, _, _ := newTestDiscoverer(t)
	d.HTTP = client
	d.AutoconfigURL = func(string) []string { return []string{secure.URL + "/mail/config-v1.1.xml"} }
	_, err := d.Discover(ctxT(t), "jo@example.org")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(strings.Join(nf.Tried, "\n"), "refused redirect from https to http") {
		t.Errorf("%v", err)
	}
}

func TestBaseDomain(t *testing.T) {
	for host, want := range map[string]string{
		"aspmx.l.google.com":     "google.com",
		"aspmx.l.google.com.":    "google.com",
		"mx.example.co.uk":       "example.co.uk",
		"a.b.example.com.au":     "example.com.au",
		"mx1.mail.hostingco.net": "hostingco.net",
		"example.org":            "example.org",
		"mx.example.de":          "example.de",
	} {
		if got := baseDomain(host); got != want {
			t.Errorf("%s: %s, want %s", host, got, want)
		}
	}
}

// ---- fake IMAP/SMTP servers on 127.0.0.1 for the guesses ----

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

var (
	certOnce sync.Once
	testCert tls.Certificate
	testPool *x509.CertPool
)

// testTLS is a self-signed certificate for example.org and its subdomains.
func testTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	certOnce.Do(func() {
		certPEM, keyPEM, err := tlsutil.SelfSigned("example.org", []string{"example.org", "*.example.org"}, time.Hour)
		if err != nil {
			panic(err)
		}
		if testCert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			panic(err)
		}
		testPool = x509.NewCertPool()
		testPool.AppendCertsFromPEM(certPEM)
	})
	return &tls.Config{Certificates: []tls.Certificate{testCert}}, testPool
}

// mailServer speaks just enough IMAP or SMTP for a probe.
type mailServer struct {
	proto    string // imap | smtp
	tls      bool   // implicit TLS
	starttls bool   // offers STARTTLS
	greeting string // overrides the greeting
}

func (m mailServer) serve(t *testing.T, ln net.Listener) {
	conf, _ := testTLS(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go m.handle(c, conf)
		}
	}()
}

func (m mailServer) handle(c net.Conn, conf *tls.Config) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if m.tls {
		tc := tls.Server(c, conf)
		if tc.Handshake() != nil {
			return
		}
		c = tc
	}
	br := bufio.NewReader(c)
	greeting := m.greeting
	if greeting == "" {
		greeting = map[string]string{"imap": "* OK [CAPABILITY IMAP4rev1] ready\r\n", "smtp": "220 mx.example.org ESMTP\r\n"}[m.proto]
	}
	fmt.Fprint(c, greeting)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		tag, cmd, _ := strings.Cut(line, " ")
		switch {
		case m.proto == "imap" && strings.EqualFold(cmd, "STARTTLS"):
			if !m.starttls {
				fmt.Fprintf(c, "%s BAD unknown command\r\n", tag)
				continue
			}
			fmt.Fprintf(c, "%s OK begin TLS\r\n", tag)
			tc := tls.Server(c, conf)
			if tc.Handshake() != nil {
				return
			}
			c, br = tc, bufio.NewReader(tc)
		case m.proto == "imap" && strings.EqualFold(cmd, "LOGOUT"):
			fmt.Fprintf(c, "* BYE\r\n%s OK\r\n", tag)
			return
		case m.proto == "smtp" && strings.HasPrefix(strings.ToUpper(line), "EHLO"):
			fmt.Fprint(c, "250-mx.example.org\r\n250-PIPELINING\r\n")
			if m.starttls {
				fmt.Fprint(c, "250-STARTTLS\r\n")
			}
			fmt.Fprint(c, "250 8BITMIME\r\n")
		case m.proto == "smtp" && strings.EqualFold(line, "STARTTLS"):
			fmt.Fprint(c, "220 go ahead\r\n")
			tc := tls.Server(c, conf)
			if tc.Handshake() != nil {
				return
			}
			c, br = tc, bufio.NewReader(tc)
		case m.proto == "smtp" && strings.EqualFold(line, "QUIT"):
			fmt.Fprint(c, "221 bye\r\n")
			return
		default:
			fmt.Fprintf(c, "%s BAD\r\n", tag)
		}
	}
}

// guessWorld maps "host:port" to fake servers; the rest refuse.
func guessWorld(t *testing.T, servers map[string]mailServer) *Discoverer {
	d, _, res := newTestDiscoverer(t)
	_, pool := testTLS(t)
	d.TLSConfig = &tls.Config{RootCAs: pool}
	addrs := map[string]string{}
	for hp, m := range servers {
		ln := listen(t)
		m.serve(t, ln)
		addrs[hp] = ln.Addr().String()
		host, _, _ := net.SplitHostPort(hp)
		res.hosts[host] = true
	}
	d.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		local, ok := addrs[addr]
		if !ok {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		var dl net.Dialer
		return dl.DialContext(ctx, network, local)
	}
	return d
}

func TestGuess(t *testing.T) {
	d := guessWorld(t, map[string]mailServer{
		"imap.example.org:993": {proto: "imap", tls: true},
		"smtp.example.org:587": {proto: "smtp", starttls: true},
		"mail.example.org:143": {proto: "imap", starttls: true},        // lower priority than 993
		"mail.example.org:465": {proto: "smtp", greeting: "220 x\r\n"}, // not TLS: handshake fails
	})
	s, err := d.Discover(ctxT(t), "jo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != SourceGuess {
		t.Fatalf("%+v", s)
	}
	if s.IMAP != (Server{"imap.example.org", 993, "tls", "jo@example.org"}) {
		t.Errorf("IMAP %+v", s.IMAP)
	}
	if s.SMTP == nil || *s.SMTP != (Server{"smtp.example.org", 587, "starttls", "jo@example.org"}) {
		t.Errorf("SMTP %+v", s.SMTP)
	}
	joined := strings.Join(s.Tried, "\n")
	for _, want := range []string{"guess imap imap.example.org:993 (tls): answers", "guess smtp smtp.example.org:465 (tls): connection refused", "guess smtp mail.example.org:465 (tls): TLS:", "guess smtp smtp.example.org:587 (starttls): answers", "guess example.org: no such host"} {
		if !strings.Contains(joined, want) {
			t.Errorf("tried lacks %q:\n%s", want, joined)
		}
	}
}

func TestGuessSTARTTLS(t *testing.T) {
	d := guessWorld(t, map[string]mailServer{
		"imap.example.org:143": {proto: "imap"},                 // no STARTTLS: refused, never plain
		"mail.example.org:143": {proto: "imap", starttls: true}, // the one
		"smtp.example.org:587": {proto: "smtp"},                 // no STARTTLS
	})
	s, err := d.Discover(ctxT(t), "jo@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s.IMAP != (Server{"mail.example.org", 143, "starttls", "jo@example.org"}) || s.SMTP != nil {
		t.Errorf("IMAP %+v SMTP %+v", s.IMAP, s.SMTP)
	}
	joined := strings.Join(s.Tried, "\n")
	for _, want := range []string{"imap.example.org:143 (starttls): STARTTLS refused", "smtp.example.org:587 (starttls): STARTTLS not offered"} {
		if !strings.Contains(joined, want) {
			t.Errorf("tried lacks %q:\n%s", want, joined)
		}
	}
}

func TestGuessRejects(t *testing.T) {
	d := guessWorld(t, map[string]mailServer{
		"imap.example.org:993": {proto: "imap", tls: true, greeting: "HTTP/1.1 400 Bad Request\r\n"},
		"mail.example.org:993": {proto: "imap", tls: true, greeting: "* BYE go away\r\n"},
	})
	// a certificate for another name is refused
	d.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool()}
	_, err := d.Discover(ctxT(t), "jo@example.org")
	var nf *NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(strings.Join(nf.Tried, "\n"), "imap imap.example.org:993 (tls): TLS: tls: failed to verify certificate") {
		t.Errorf("%v", err)
	}
	_, pool := testTLS(t)
	d.TLSConfig = &tls.Config{RootCAs: pool}
	_, err = d.Discover(ctxT(t), "jo@example.org")
	if !errors.As(err, &nf) {
		t.Fatal(err)
	}
	joined := strings.Join(nf.Tried, "\n")
	for _, want := range []string{`imap.example.org:993 (tls): not an IMAP greeting: "HTTP/1.1 400 Bad Request"`, `mail.example.org:993 (tls): not an IMAP greeting: "* BYE go away"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("tried lacks %q:\n%s", want, joined)
		}
	}
}

func TestInsecureResultRefused(t *testing.T) {
	for _, c := range []struct {
		s  Server
		ok bool
	}{
		{Server{Host: "imap.example.org", Security: "tls"}, true},
		{Server{Host: "imap.example.org", Security: "starttls"}, true},
		{Server{Host: "imap.example.org", Security: "plain"}, false},
		{Server{Host: "127.0.0.1", Security: "plain"}, true},
		{Server{Host: "::1", Security: "plain"}, true},
		{Server{Host: "localhost", Security: "plain"}, true},
		{Server{Host: "127.0.0.1", Security: "none"}, false},
	} {
		if secure(&c.s) != c.ok {
			t.Errorf("%+v: %v", c.s, !c.ok)
		}
	}
}
