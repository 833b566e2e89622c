package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The demo end to end, without a UI: backup, outage detection, failover.
func TestDemoBackupOutageFailover(t *testing.T) {
	var mu sync.Mutex
	var notes []string
	e, err := StartDemo(t.TempDir(), Hooks{Notify: func(title, body string) {
		mu.Lock()
		notes = append(notes, title+": "+body)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.BackupNow("")
	waitFor(t, "the first backup", 20*time.Second, func() bool {
		for _, a := range e.Accounts() {
			if a.Running || a.LastResult == "" {
				return false
			}
		}
		return true
	})
	accts := e.Accounts()
	if accts[0].Name != "bt" || accts[0].Archived != 59 || accts[0].LastResult != "ok" {
		t.Fatalf("after backup: %+v", accts[0])
	}
	if len(e.Folders("bt")) != 6 {
		t.Fatalf("folders: %v", e.Folders("bt"))
	}
	// Offline search and reading.
	rows, n, err := e.Search("subject:invoice", 50)
	if err != nil || n == 0 || len(rows) == 0 {
		t.Fatalf("search: %d %v", n, err)
	}
	m, err := e.Read(rows[0])
	if err != nil || !strings.Contains(m.Subject, "Invoice") || m.Text == "" {
		t.Fatalf("read: %+v %v", m, err)
	}
	page, total, err := e.Messages("bt", "INBOX", 0, 10)
	if err != nil || total != 24 || len(page) != 10 {
		t.Fatalf("messages: %d %d %v", len(page), total, err)
	}
	waitFor(t, "bt up", 20*time.Second, func() bool { return e.Accounts()[0].State == health.Up })

	// New mail in the inbox is backed up within seconds (IDLE).
	e.demo.providers[0].imap.Deliver("INBOX", []byte("Subject: just in\r\nMessage-ID: <idle@x>\r\n\r\nhi\r\n"), time.Now())
	waitFor(t, "the IDLE-driven backup", 20*time.Second, func() bool {
		a := e.Accounts()[0]
		return !a.Running && a.Archived == 60
	})

	// The primary goes dark: the probes mark it down and mail goes through gmail.
	e.SimulateOutage(true)
	waitFor(t, "bt down", 30*time.Second, func() bool { return e.Accounts()[0].State == health.Down })
	out, err := e.Send(context.Background(), Draft{From: "Jane <jane@bt.demo>", To: "tom@example.org", Subject: "Hi", Body: "Hello Tom"})
	if err != nil || out.State != outbox.Sent || out.Account != "gmail" || !strings.Contains(out.Why, "bt: known to be down") {
		t.Fatalf("send during the outage: %+v %v", out, err)
	}
	mu.Lock()
	joined := strings.Join(notes, "\n")
	mu.Unlock()
	if !strings.Contains(joined, "bt is down") || !strings.Contains(joined, "outgoing mail now goes through gmail") {
		t.Fatalf("notifications: %s", joined)
	}
	e.SimulateOutage(false)
	waitFor(t, "bt back up", 30*time.Second, func() bool { return e.Accounts()[0].State == health.Up })
	if len(e.Incidents(10)) < 2 {
		t.Fatal("no incident history")
	}
}

func TestBuildMessage(t *testing.T) {
	raw, err := buildMessage(Draft{From: "Jane <jane@x.test>", To: "a@x.test, B <b@x.test>", Subject: "Grüße", Body: "line 1\nline 2"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	if !strings.Contains(s, "Subject: =?utf-8?") || !strings.Contains(s, "line 1\r\nline 2") || !strings.Contains(s, "To: <a@x.test>, \"B\" <b@x.test>") {
		t.Fatalf("%s", s)
	}
	if _, err := buildMessage(Draft{From: "jane@x.test", Subject: "x"}); err == nil {
		t.Fatal("a draft without recipients was accepted")
	}
	if _, err := buildMessage(Draft{From: "not an address", To: "a@x.test"}); err == nil {
		t.Fatal("a bad From was accepted")
	}
}

func TestSettingsOrderAndRelay(t *testing.T) {
	e, err := StartDemo(t.TempDir(), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := e.Settings()
	if strings.Join(s.Order, ",") != "bt,gmail" || s.RelayOn {
		t.Fatalf("settings: %+v", s)
	}
	s.Order = []string{"gmail", "bt"}
	if err := e.Apply(s); err != nil {
		t.Fatal(err)
	}
	out, err := e.Send(context.Background(), Draft{From: "jane@bt.demo", To: "tom@example.org", Subject: "x", Body: "y"})
	if err != nil || out.Account != "gmail" {
		t.Fatalf("after reordering: %+v %v", out, err)
	}
	if err := e.SetRelay(true); err != nil {
		t.Fatal(err)
	}
	s = e.Settings()
	if !s.RelayOn || s.RelayPassword == "" || !strings.HasPrefix(s.RelayListen, "127.0.0.1:") {
		t.Fatalf("relay: %+v", s)
	}
	if err := e.SetRelay(false); err != nil || e.Settings().RelayOn {
		t.Fatal("the relay did not stop")
	}
}

func TestSaveAttachment(t *testing.T) {
	e, err := StartDemo(t.TempDir(), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	raw := "From: a@x\r\nTo: b@y\r\nSubject: with file\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--B\r\nContent-Type: text/plain; name=notes.txt\r\n" +
		"Content-Disposition: attachment; filename=notes.txt\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gZmlsZQ==\r\n--B--\r\n"
	e.demo.providers[0].imap.Deliver("INBOX", []byte(raw), time.Now())
	e.BackupNow("bt")
	waitFor(t, "backup", 20*time.Second, func() bool { a := e.Accounts()[0]; return !a.Running && a.LastResult != "" })
	rows, _, err := e.Search("subject:\"with file\"", 5)
	if err != nil || len(rows) != 1 {
		t.Fatalf("search: %v %v", rows, err)
	}
	m, err := e.Read(rows[0])
	if err != nil || len(m.Attachments) != 1 {
		t.Fatalf("read: %+v %v", m, err)
	}
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := e.SaveAttachment(rows[0], m.Attachments[0].Part, path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "hello file" {
		t.Fatalf("saved %q", b)
	}
	if err := e.SaveAttachment(rows[0], m.Attachments[0].Part, path); err == nil {
		t.Fatal("an existing file was overwritten")
	}
	if b, _ := os.ReadFile(path); string(b) != "hello file" {
		t.Fatalf("the existing file now holds %q", b)
	}
	// The save dialog's empty placeholder is replaced.
	placeholder := filepath.Join(t.TempDir(), "chosen.txt")
	if err := os.WriteFile(placeholder, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.SaveAttachment(rows[0], m.Attachments[0].Part, placeholder); err != nil {
		t.Fatalf("over the dialog's empty file: %v", err)
	}
	if b, _ := os.ReadFile(placeholder); string(b) != "hello file" {
		t.Fatalf("saved %q over the placeholder", b)
	}
}

// The Health view's history is every process's checks of the last day
// from the shared health log: a delivery check and a bounce another
// process recorded are there, sorted into their tracks, and older ones
// are not.
func TestHistoryFromTheSharedLog(t *testing.T) {
	dir := t.TempDir()
	e, err := StartDemo(dir, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	other, err := wire.OpenSharedHealth(e.dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	now := time.Now()
	for _, o := range []health.Observation{
		{Time: now.Add(-25 * time.Hour), Account: "bt", Protocol: health.SMTP, OK: true, Latency: time.Second},
		{Time: now.Add(-time.Hour), Account: "bt", Protocol: health.SMTP, OK: true, Latency: 2 * time.Second, Phase: health.PhaseLogin},
		{Time: now.Add(-50 * time.Minute), Account: "bt", Protocol: health.SMTP, OK: false, Phase: health.PhaseCanary, Cause: "not delivered within 15 min"},
		{Time: now.Add(-40 * time.Minute), Account: "bt", Protocol: health.SMTP, OK: false, Phase: health.PhaseBounce, Cause: "550 5.1.1"},
	} {
		other.Observe(o)
	}
	if !e.reloadHistory() {
		t.Fatal("no news after four new observations")
	}
	h := e.History("bt")
	var slow int
	for _, c := range h.Checks["smtp"] {
		if c.Latency == 2*time.Second {
			slow++
		}
		if c.Latency == time.Second {
			t.Fatal("a check 25 hours old is in the history")
		}
	}
	if slow != 1 || len(h.Canary) != 1 || h.Canary[0].OK || h.Bounces != 1 {
		t.Fatalf("history: %d slow checks, canary %+v, %d bounces", slow, h.Canary, h.Bounces)
	}
	if e.reloadHistory() && len(e.History("bt").Checks["smtp"]) == len(h.Checks["smtp"]) {
		t.Fatal("news reported without anything new")
	}
}

// The engine's own checks reach the Health view's history at once, not
// at the next 30-second read of the shared log.
func TestOwnChecksInTheHistoryAtOnce(t *testing.T) {
	e, err := StartDemo(t.TempDir(), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	waitFor(t, "the demo's first checks in the history", 10*time.Second, func() bool {
		h := e.History("bt")
		return len(h.Checks["imap"]) > 0 && len(h.Checks["smtp"]) > 0
	})
}
