// Command lifeboat-bench-failover measures Lifeboat's sending ("make
// bench-failover") against two private providers, each a real Postfix
// delivering into its Dovecot (sync/testenv/mailstack), and prints one table:
//
//   - failover latency: a message sent with the primary refusing
//     connections, accepted by the secondary (the target: under 1 s), next to
//     a direct send through the secondary; and with the primary already known
//     down (no connection may be spent on it);
//   - relay throughput: 1,000 messages of 20 KB from 10 concurrent SMTP
//     clients through `lifeboat relay` (a separate process), until all are
//     acknowledged and until all are in the recipient's mailbox;
//   - the relay's peak RSS;
//   - the outage drills through the binary (drills.go): a blackholed
//     primary with and without a running service, and the delivery check
//     noticing a misrouting primary.
//
// It is a benchmark: nothing fails on timing.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
	"github.com/lifeboat-mail/lifeboat/sync/smtpsend"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/mailstack"
)

type row struct{ what, value string }

var drillRuns int

func main() {
	n := flag.Int("n", 20, "messages per failover measurement")
	relayMsgs := flag.Int("relay-messages", 1000, "messages through the relay")
	clients := flag.Int("clients", 10, "concurrent relay clients")
	size := flag.Int("size", 20<<10, "relay message size in bytes")
	out := flag.String("out", "", "also write the table as Markdown to this file")
	flag.IntVar(&drillRuns, "drill-runs", 3, "runs of each outage drill")
	flag.Parse()
	rows, err := run(*n, *relayMsgs, *clients, *size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat-bench-failover:", err)
		os.Exit(1)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	var md strings.Builder
	md.WriteString("| measurement | result |\n|---|--:|\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.what, r.value)
		fmt.Fprintf(&md, "| %s | %s |\n", r.what, r.value)
	}
	tw.Flush()
	if *out != "" {
		os.WriteFile(*out, []byte(md.String()), 0o644)
	}
}

type countingListener struct {
	ln    net.Listener
	count atomic.Int32
}

func run(n, relayMsgs, clients, size int) ([]row, error) {
	if err := mailstack.Available(); err != nil {
		return nil, fmt.Errorf("needs Postfix and Dovecot (run .ci/deps.sh): %v", err)
	}
	dir, err := os.MkdirTemp("", "lifeboat-bench-failover-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	a, err := mailstack.Start(mailstack.Options{Dir: filepath.Join(dir, "a"), Name: "a", Users: map[string]string{"jane": "a-secret", "testbox": "tb-secret"}, MessageSizeLimit: -1})
	if err != nil {
		return nil, err
	}
	defer a.Stop()
	b, err := mailstack.Start(mailstack.Options{Dir: filepath.Join(dir, "b"), Name: "b", Users: map[string]string{"jane": "b-secret", "tom": "tom-secret"}, MessageSizeLimit: -1})
	if err != nil {
		return nil, err
	}
	defer b.Stop()
	if err := mailstack.Link(a, b); err != nil {
		return nil, err
	}
	ctx := context.Background()
	var rows []row
	add := func(what, format string, args ...any) {
		rows = append(rows, row{what, fmt.Sprintf(format, args...)})
		fmt.Fprintf(os.Stderr, "  %s: %s\n", what, fmt.Sprintf(format, args...))
	}

	// --- failover latency, through the library, timed per message ---
	submission := func(p *mailstack.Provider) smtpsend.Endpoint {
		host, port, _ := net.SplitHostPort(p.SubmissionAddr)
		pn, _ := strconv.Atoi(port)
		return smtpsend.Endpoint{Host: host, Port: pn, Security: "starttls", Username: p.Email("jane"), TLSConfig: p.TLSConfig, Timeout: 30 * time.Second}
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	refusingPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	counting, _ := net.Listen("tcp", "127.0.0.1:0")
	cl := &countingListener{ln: counting}
	go func() {
		for {
			c, err := counting.Accept()
			if err != nil {
				return
			}
			cl.count.Add(1)
			c.Close()
		}
	}()
	defer counting.Close()
	countingPort := counting.Addr().(*net.TCPAddr).Port

	measure := func(primaryPort int, down bool) (time.Duration, error) {
		ob, err := outbox.Open(filepath.Join(dir, fmt.Sprintf("outbox-%d-%v-%d", primaryPort, down, time.Now().UnixNano())))
		if err != nil {
			return 0, err
		}
		pa := submission(a)
		if primaryPort != 0 {
			pa.Port = primaryPort
		}
		accts := []failover.Account{
			{Name: "a", Email: a.Email("jane"), SMTP: pa, Password: func() (string, error) { return a.Password("jane"), nil }},
			{Name: "b", Email: b.Email("jane"), SMTP: submission(b), Password: func() (string, error) { return b.Password("jane"), nil }},
		}
		if primaryPort == -1 { // direct through the secondary
			accts = accts[1:]
		}
		var h failover.Health
		if down {
			h = knownDown{"a"}
		}
		r := failover.New(failover.Options{Outbox: ob, Accounts: accts, Health: h})
		var total time.Duration
		for i := 0; i < n; i++ {
			raw := fmt.Sprintf("From: Jane <%s>\r\nTo: %s\r\nSubject: failover %d\r\n\r\nbody\r\n", a.Email("jane"), b.Email("tom"), i)
			p, err := failover.Prepare([]byte(raw), "", nil, "")
			if err != nil {
				return 0, err
			}
			env, err := ob.Enqueue(outbox.Envelope{From: p.From, To: p.To, MessageID: p.MessageID}, bytes.NewReader(p.Raw))
			if err != nil {
				return 0, err
			}
			start := time.Now()
			outc, err := r.Deliver(ctx, env.ID)
			total += time.Since(start)
			if err != nil || outc.State != outbox.Sent || outc.Account != "b" {
				return 0, fmt.Errorf("message %d: %v %+v", i, err, outc)
			}
		}
		return total / time.Duration(n), nil
	}
	// Warm up both providers (first connections, TLS session set-up,
	// Postfix's first deliveries), then measure.
	if _, err := measure(-1, false); err != nil {
		return nil, err
	}
	direct, err := measure(-1, false)
	if err != nil {
		return nil, err
	}
	refused, err := measure(refusingPort, false)
	if err != nil {
		return nil, err
	}
	knownDownT, err := measure(countingPort, true)
	if err != nil {
		return nil, err
	}
	add("send through the secondary directly (mean of "+strconv.Itoa(n)+")", "%s", direct.Round(time.Millisecond/10))
	add("primary refusing: from the send to the secondary's acceptance (mean)", "%s", refused.Round(time.Millisecond/10))
	var refusal time.Duration
	for i := 0; i < n; i++ {
		ep := submission(a)
		ep.Port = refusingPort
		res := smtpsend.Send(ctx, ep, "x", a.Email("jane"), []string{b.Email("tom")}, strings.NewReader("x"), 1, smtpsend.Hooks{})
		refusal += res.Total + res.Connect
		if res.Failure == nil || res.Failure.Action != smtpsend.NextAccount {
			return nil, fmt.Errorf("refusing primary: %+v", res.Failure)
		}
	}
	add("  of which: the primary's refusal, until the router moves on (mean)", "%s", (refusal / time.Duration(n)).Round(time.Microsecond))
	add("primary known down: send time (mean)", "%s", knownDownT.Round(time.Millisecond/10))
	add("  connections made to the known-down primary", "%d", cl.count.Load())

	// --- relay throughput, through the real binary ---
	bin := filepath.Join(dir, "lifeboat")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/lifeboat").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	relayPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := fmt.Sprintf("archive_dir = %q\n", filepath.Join(dir, "archive")) + b.AccountConfig("b", "jane", 0, 0) +
		fmt.Sprintf("[failover]\norder = [\"b\"]\nrelay_listen = \"127.0.0.1:%d\"\nrecipient_limit = -1\n", relayPort)
	cfgPath := filepath.Join(dir, "config.toml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	credsCmd := exec.Command(bin, "--config", cfgPath, "relay", "--show-credentials")
	credsCmd.Env = env
	creds, err := credsCmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("relay credentials (the relay keeps its password in the keyring: run through .ci/with-keyring): %v\n%s", err, creds)
	}
	var password string
	for _, l := range strings.Split(string(creds), "\n") {
		if strings.HasPrefix(l, "password:") {
			password = strings.TrimSpace(strings.TrimPrefix(l, "password:"))
		}
	}
	relay := exec.Command(bin, "--config", cfgPath, "relay")
	relay.Env = env
	var relayLog bytes.Buffer
	relay.Stdout, relay.Stderr = &relayLog, io.Discard
	if err := relay.Start(); err != nil {
		return nil, err
	}
	defer func() { relay.Process.Kill(); relay.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", relayPort)
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	line := []byte("Twenty kilobytes of an ordinary message body, line after line.\r\n")
	body := bytes.Repeat(line, size/len(line)+1)[:size]
	var sent atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	per := relayMsgs / clients
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cli, err := smtp.Dial(addr)
			if err != nil {
				errs <- err
				return
			}
			defer cli.Close()
			if err := cli.Auth(sasl.NewPlainClient("", "lifeboat", password)); err != nil {
				errs <- err
				return
			}
			for i := 0; i < per; i++ {
				msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: relay %d-%d\r\n\r\n", a.Email("jane"), b.Email("tom"), c, i)
				if err := cli.SendMail(b.Email("jane"), []string{b.Email("tom")}, io.MultiReader(strings.NewReader(msg), bytes.NewReader(body))); err != nil {
					errs <- err
					return
				}
				sent.Add(1)
			}
		}(c)
	}
	wg.Wait()
	acked := time.Since(start)
	close(errs)
	for err := range errs {
		return nil, fmt.Errorf("relay client: %v", err)
	}
	total := int(sent.Load())
	// Wait until every message is in tom's INBOX at the provider.
	c, err := b.Dovecot.Dial(b.Email("tom"))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return nil, err
		}
		if int(*st.NumMessages) >= total+4*n {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d messages delivered after 10 minutes", *st.NumMessages, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	delivered := time.Since(start)
	rss := peakRSS(relay.Process.Pid)
	add(fmt.Sprintf("relay: %d × %d KB from %d clients, all acknowledged (fsynced)", total, size>>10, clients), "%.2f s (%.0f msgs/s)", acked.Seconds(), float64(total)/acked.Seconds())
	add("relay: all in the recipient's mailbox (through Postfix and LMTP)", "%.2f s (%.0f msgs/s)", delivered.Seconds(), float64(total)/delivered.Seconds())
	add("relay: peak RSS of the lifeboat relay process", "%.1f MB", float64(rss)/1024)
	relay.Process.Kill()
	relay.Wait()
	if err := drills(dir, bin, a, b, drillRuns, add); err != nil {
		return nil, err
	}
	add("machine", "%d CPUs, %s, Postfix and Dovecot on the same machine", runtime.NumCPU(), runtime.Version())
	return rows, nil
}

type knownDown struct{ name string }

func (k knownDown) Unusable(a string) string {
	if a == k.name {
		return "known to be down"
	}
	return ""
}
func (k knownDown) Observe(string, bool, *smtpsend.Failure, time.Duration) {}

// peakRSS reads VmHWM (KB) of a running process.
func peakRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.Atoi(f[1])
				return v
			}
		}
	}
	return 0
}
