package dovecot

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

// msg builds a message with CRLF line endings.
func msg(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

type fetched struct {
	UID   imap.UID
	Flags []imap.Flag
	Date  time.Time
	Body  []byte
}

// fetchAll returns every message of mailbox in UID order, with the mailbox's
// UIDVALIDITY.
func fetchAll(t *testing.T, s *Server, user, mailbox string) ([]fetched, uint32) {
	t.Helper()
	c, err := s.Dial(user)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("select %q: %v", mailbox, err)
	}
	var out []fetched
	if sel.NumMessages > 0 {
		section := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{section},
		}).Collect()
		if err != nil {
			t.Fatalf("fetch %q: %v", mailbox, err)
		}
		for _, m := range msgs {
			flags := slices.Clone(m.Flags)
			flags = slices.DeleteFunc(flags, func(f imap.Flag) bool { return f == "\\Recent" })
			sort.Slice(flags, func(i, j int) bool { return flags[i] < flags[j] })
			out = append(out, fetched{UID: m.UID, Flags: flags, Date: m.InternalDate, Body: m.FindBodySection(section)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
	return out, sel.UIDValidity
}

func TestStartAndCapabilities(t *testing.T) {
	t0 := time.Now()
	s := StartT(t)
	t.Logf("Dovecot %s started in %v: IMAP %s, IMAPS %s, dir %s", Version(), time.Since(t0), s.IMAPAddr, s.IMAPSAddr, s.Dir)

	c, err := s.Dial("user1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps := c.Caps()
	var names []string
	for cp := range caps {
		names = append(names, string(cp))
	}
	sort.Strings(names)
	t.Logf("capabilities after login: %s", strings.Join(names, " "))
	for _, want := range []imap.Cap{imap.CapCondStore, imap.CapQResync, imap.CapListStatus, imap.CapUIDPlus,
		imap.CapSpecialUse, imap.CapMove, imap.CapLiteralPlus, imap.CapESearch, imap.CapEnable, imap.CapIdle} {
		if !caps.Has(want) {
			t.Errorf("capability %s not advertised", want)
		}
	}

	// The namespace: "/" separator, INBOX exists and is empty.
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Mailbox != "INBOX" || list[0].Delim != '/' {
		t.Errorf("LIST of a new user: %+v, want only INBOX with delimiter /", list)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"ca.pem", "cert.pem", "key.pem", "passwd"} {
		if _, err := os.Stat(filepath.Join(s.Dir, "etc", name)); err != nil {
			t.Error(err)
		}
	}
	if s.PID() <= 0 {
		t.Errorf("PID() = %d", s.PID())
	}
}

func TestLogin(t *testing.T) {
	s := StartT(t, Options{Users: map[string]string{"alice": "s3cret", "bob@example.org": "x y"}})
	if got := s.Password("alice"); got != "s3cret" {
		t.Errorf("Password(alice) = %q", got)
	}

	for _, user := range []string{"alice", "bob@example.org"} {
		c, err := s.Dial(user)
		if err != nil {
			t.Fatalf("Dial(%s): %v", user, err)
		}
		// A command that needs a login proves it (c.State() can lag the
		// tagged OK it follows, so it is not asserted).
		if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Errorf("%s: SELECT INBOX after Dial: %v", user, err)
		}
		c.Logout().Wait()
		c.Close()
	}

	// Wrong password and unknown user fail, over each listener.
	loginFails := func(name string, c *imapclient.Client, err error, user, pass string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer c.Close()
		err = c.Login(user, pass).Wait()
		var ierr *imap.Error
		if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeNo {
			t.Errorf("%s: login %s/%s: err = %v, want a NO response", name, user, pass, err)
		}
	}
	opts := &imapclient.Options{TLSConfig: s.TLSConfig}
	c, err := imapclient.DialTLS(s.IMAPSAddr, opts)
	loginFails("imaps", c, err, "alice", "wrong")
	c, err = imapclient.DialTLS(s.IMAPSAddr, opts)
	loginFails("imaps", c, err, "nobody-here", "s3cret")
	c, err = imapclient.DialInsecure(s.IMAPAddr, nil)
	loginFails("plain", c, err, "alice", "")

	t0 := time.Now()
	if _, err := s.Dial("alice"); err != nil {
		t.Fatalf("login right after failures: %v", err)
	} else if d := time.Since(t0); d > time.Second {
		t.Errorf("login after failures took %v: auth penalty not disabled?", d)
	}

	// Plaintext listener: STARTTLS with the harness's TLS config, and plain
	// LOGIN without TLS (loopback only).
	c, err = imapclient.DialStartTLS(s.IMAPAddr, opts)
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if err := c.Login("alice", "s3cret").Wait(); err != nil {
		t.Errorf("login after STARTTLS: %v", err)
	}
	c.Close()
	c, err = imapclient.DialInsecure(s.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Caps().Has(imap.CapStartTLS) {
		t.Errorf("plaintext listener does not offer STARTTLS: %v", c.Caps())
	}
	if err := c.Login("alice", "s3cret").Wait(); err != nil {
		t.Errorf("plaintext login: %v", err)
	}
	c.Close()

	// The certificate is valid for localhost (name-only matchers such as
	// mbsync), 127.0.0.1 and ::1, and only for the harness's CA.
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		cfg := s.TLSConfig.Clone()
		cfg.ServerName = name
		conn, err := tls.Dial("tcp", s.IMAPSAddr, cfg)
		if err != nil {
			t.Errorf("TLS with ServerName %s: %v", name, err)
			continue
		}
		conn.Close()
	}
	if conn, err := tls.Dial("tcp", s.IMAPSAddr, &tls.Config{ServerName: "localhost"}); err == nil {
		conn.Close()
		t.Error("TLS verified against the system roots; want an unknown-authority error")
	}
}

func TestAppendFetchExact(t *testing.T) {
	s := StartT(t)
	date := time.Date(2021, 3, 4, 5, 6, 7, 0, time.FixedZone("", 2*3600))
	messages := []struct {
		mailbox string
		flags   []imap.Flag
		body    []byte
	}{
		{"INBOX", nil, msg(
			"From: a@example.org",
			"To: b@example.org",
			"Subject: plain",
			"Message-ID: <1@example.org>",
			"",
			"Hello.")},
		{"INBOX", []imap.Flag{imap.FlagSeen, imap.FlagFlagged, "$Label1"}, msg(
			"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>",
			"Subject: 8bit and From_ lines",
			"Content-Type: text/plain; charset=iso-8859-1",
			"Content-Transfer-Encoding: 8bit",
			"",
			"From here on the body starts with From and a space.",
			"From the mbox point of view this line needs quoting.",
			">From already quoted",
			"Latin-1: caf\xe9 na\xefve \xff\xfe raw bytes, UTF-8: Jürgen ☃",
			"",
			".",
			"..dot-stuffing is SMTP's business, not IMAP's",
			"trailing spaces   ",
			"\ttab")},
		{"Archive/2021", []imap.Flag{imap.FlagAnswered}, msg(
			"From: c@example.org",
			"Subject: in a sub folder",
			"",
			"x")},
		{"dots.in.name", nil, msg("Subject: dots", "", "y")},
		{"Entwürfe & Co", []imap.Flag{imap.FlagDraft}, msg("Subject: unicode folder", "", "z")},
	}
	uids := map[string][]imap.UID{}
	for _, m := range messages {
		uid, err := s.Append("user1", m.mailbox, m.body, m.flags, date)
		if err != nil {
			t.Fatalf("Append to %s: %v", m.mailbox, err)
		}
		uids[m.mailbox] = append(uids[m.mailbox], uid)
	}
	if got := uids["INBOX"]; len(got) != 2 || got[0] == 0 || got[1] <= got[0] {
		t.Errorf("INBOX UIDs %v, want two ascending", got)
	}

	i := 0
	for _, mailbox := range []string{"INBOX", "Archive/2021", "dots.in.name", "Entwürfe & Co"} {
		got, _ := fetchAll(t, s, "user1", mailbox)
		for j, f := range got {
			m := messages[i]
			i++
			if f.UID != uids[mailbox][j] {
				t.Errorf("%s: UID %d, Append returned %d", mailbox, f.UID, uids[mailbox][j])
			}
			if !bytes.Equal(f.Body, m.body) {
				t.Errorf("%s UID %d: fetched body differs:\n got %q\nwant %q", mailbox, f.UID, f.Body, m.body)
			}
			want := slices.Clone(m.flags)
			sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
			if !slices.Equal(f.Flags, want) && !(len(f.Flags) == 0 && len(want) == 0) {
				t.Errorf("%s UID %d: flags %v, want %v", mailbox, f.UID, f.Flags, want)
			}
			if !f.Date.Equal(date) {
				t.Errorf("%s UID %d: INTERNALDATE %v, want %v", mailbox, f.UID, f.Date, date)
			}
		}
	}
	if i != len(messages) {
		t.Errorf("fetched %d messages, appended %d", i, len(messages))
	}
}

func TestExpungeAndSetFlags(t *testing.T) {
	s := StartT(t)
	var uids []imap.UID
	for i := 0; i < 4; i++ {
		uid, err := s.Append("user1", "Work", msg(fmt.Sprintf("Subject: %d", i), "", "body"), nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, uid)
	}
	// A message the test did not ask to expunge, already \Deleted, stays.
	if err := s.SetFlags("user1", "Work", uids[3], []imap.Flag{imap.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if err := s.Expunge("user1", "Work", uids[1], uids[2]); err != nil {
		t.Fatal(err)
	}
	got, _ := fetchAll(t, s, "user1", "Work")
	if len(got) != 2 || got[0].UID != uids[0] || got[1].UID != uids[3] {
		t.Fatalf("after Expunge: %+v, want UIDs %d and %d", got, uids[0], uids[3])
	}
	if err := s.Expunge("user1", "Work", uids[1]); err == nil {
		t.Error("Expunge of an expunged UID succeeded")
	}
	if err := s.Expunge("user1", "Work"); err != nil {
		t.Errorf("Expunge of nothing: %v", err)
	}

	for _, flags := range [][]imap.Flag{
		{imap.FlagSeen, imap.FlagFlagged, "$Label1", "Custom"},
		{imap.FlagAnswered},
		nil,
	} {
		if err := s.SetFlags("user1", "Work", uids[0], flags); err != nil {
			t.Fatal(err)
		}
		got, _ := fetchAll(t, s, "user1", "Work")
		want := slices.Clone(flags)
		sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
		if len(got[0].Flags) != len(want) || (len(want) > 0 && !slices.Equal(got[0].Flags, want)) {
			t.Errorf("after SetFlags(%v): flags %v", flags, got[0].Flags)
		}
	}
	if err := s.SetFlags("user1", "Work", 9999, []imap.Flag{imap.FlagSeen}); err == nil {
		t.Error("SetFlags on a missing UID succeeded")
	}

	if err := s.DeleteMailbox("user1", "Work"); err != nil {
		t.Fatal(err)
	}
	c, err := s.Dial("user1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Status("Work", &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
		t.Error("Work still exists after DeleteMailbox")
	}
}

func TestResetUIDValidity(t *testing.T) {
	s := StartT(t)
	for _, mailbox := range []string{"INBOX", "Lists/go-nuts", "Empty"} {
		t.Run(strings.ReplaceAll(mailbox, "/", "_"), func(t *testing.T) {
			n := 5
			if mailbox == "Empty" {
				n = 0
				if err := s.withClient("user1", func(c *imapclient.Client) error { return ensureMailbox(c, mailbox) }); err != nil {
					t.Fatal(err)
				}
			}
			var uids []imap.UID
			for i := 0; i < n; i++ {
				var flags []imap.Flag
				if i%2 == 0 {
					flags = []imap.Flag{imap.FlagSeen, "$Work"}
				}
				date := time.Date(2020, 1, 1+i, 12, 0, 0, 0, time.UTC)
				uid, err := s.Append("user1", mailbox, msg(fmt.Sprintf("Subject: message %d", i), "", strings.Repeat("line\r\n", i)), flags, date)
				if err != nil {
					t.Fatal(err)
				}
				uids = append(uids, uid)
			}
			if n > 0 {
				// A gap, so that UIDs are not simply 1..n.
				if err := s.Expunge("user1", mailbox, uids[1]); err != nil {
					t.Fatal(err)
				}
			}
			before, v1 := fetchAll(t, s, "user1", mailbox)

			if err := s.ResetUIDValidity("user1", mailbox); err != nil {
				t.Fatalf("%v\n%s", err, s.LogTail(20))
			}
			after, v2 := fetchAll(t, s, "user1", mailbox)
			t.Logf("%s: UIDVALIDITY %d -> %d, UIDs %v -> %v", mailbox, v1, v2, uidsOf(before), uidsOf(after))
			if v2 == v1 {
				t.Fatalf("UIDVALIDITY unchanged: %d", v1)
			}
			if len(after) != len(before) {
				t.Fatalf("%d messages after reset, %d before", len(after), len(before))
			}
			for i := range before {
				b, a := before[i], after[i]
				if !bytes.Equal(a.Body, b.Body) || !slices.Equal(a.Flags, b.Flags) || !a.Date.Equal(b.Date) {
					t.Errorf("message %d changed: before UID %d %v %v, after UID %d %v %v", i, b.UID, b.Flags, b.Date, a.UID, a.Flags, a.Date)
				}
				if a.UID <= before[len(before)-1].UID {
					t.Errorf("message %d: new UID %d is not above the old UIDs %v", i, a.UID, uidsOf(before))
				}
			}
			// The temporary mailbox is gone.
			c, err := s.Dial("user1")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			list, err := c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range list {
				if strings.HasPrefix(l.Mailbox, "dovecot-") {
					t.Errorf("temporary mailbox %q left behind", l.Mailbox)
				}
			}
		})
	}
	// Twice in a row works too.
	if err := s.ResetUIDValidity("user1", "INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetUIDValidity("user1", "missing"); err == nil {
		t.Error("ResetUIDValidity of a missing mailbox succeeded")
	}
}

func uidsOf(fs []fetched) []imap.UID {
	var u []imap.UID
	for _, f := range fs {
		u = append(u, f.UID)
	}
	return u
}

// instanceProcesses lists the live (non-zombie) processes in the instance's
// process group or carrying its instance name in their title.
func instanceProcesses(t *testing.T, s *Server) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
		fields := strings.Fields(rest)
		if len(fields) < 3 {
			continue
		}
		if fields[0] == "Z" || fields[0] == "X" {
			continue // dead, waiting to be reaped by whoever inherited it
		}
		pgrp, _ := strconv.Atoi(fields[2])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cmd := strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		if pgrp == s.PID() || pid == s.PID() || strings.Contains(cmd, s.instance) || strings.Contains(cmd, s.ConfigFile) {
			found = append(found, fmt.Sprintf("%d[%s %s]", pid, fields[0], cmd))
		}
	}
	return found
}

func TestStopLeavesNothing(t *testing.T) {
	s := StartT(t)
	// A logged-in session, so that an imap process exists too.
	c, err := s.Dial("user1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	pid := s.PID()
	filePID, err := readPID(filepath.Join(s.Dir, "run", "master.pid"))
	if err != nil || filePID != pid {
		t.Fatalf("master.pid: %d, %v; PID() %d", filePID, err, pid)
	}
	procs := instanceProcesses(t, s)
	t.Logf("instance processes: %v", procs)
	if len(procs) < 3 {
		t.Errorf("expected master, log, config, imap-login, auth, imap...: %v", procs)
	}

	t0 := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop took %v", time.Since(t0))
	if proc.Exists(pid) {
		t.Errorf("master pid %d still exists after Stop", pid)
	}
	if left := instanceProcesses(t, s); len(left) > 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := s.Dial("user1"); err == nil {
		t.Error("Dial succeeded after Stop")
	}
}

func TestTwoInstancesAndRestart(t *testing.T) {
	var wg sync.WaitGroup
	servers := make([]*Server, 2)
	dirs := []string{t.TempDir(), t.TempDir()}
	errs := make([]error, 2)
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = Start(Options{Dir: dirs[i]})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			proc.Need(t, "testenv/dovecot: Dovecot", Available(), installHint)
			t.Fatal(err)
		}
		t.Cleanup(func() { servers[i].Stop() })
	}
	a, b := servers[0], servers[1]
	if a.IMAPAddr == b.IMAPAddr || a.IMAPSAddr == b.IMAPSAddr || a.PID() == b.PID() {
		t.Fatalf("instances share ports or pid: %+v %+v", a, b)
	}
	if _, err := a.Append("user1", "INBOX", msg("Subject: only in a", "", "a"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := fetchAll(t, b, "user1", "INBOX"); len(got) != 0 {
		t.Errorf("instance b sees %d messages appended to a", len(got))
	}
	// Each instance has its own CA.
	if conn, err := tls.Dial("tcp", b.IMAPSAddr, a.TLSConfig); err == nil {
		conn.Close()
		t.Error("b's certificate verified with a's CA")
	}

	// Stopping one leaves the other running.
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append("user1", "INBOX", msg("Subject: b", "", "b"), nil, time.Time{}); err != nil {
		t.Fatalf("b after a stopped: %v", err)
	}

	// Restart a on the same directory: mail and CA are kept.
	ca1, _ := os.ReadFile(a.CAFile)
	a2, err := Start(Options{Dir: a.Dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a2.Stop() })
	ca2, _ := os.ReadFile(a2.CAFile)
	if !bytes.Equal(ca1, ca2) {
		t.Error("restart generated a new CA")
	}
	got, _ := fetchAll(t, a2, "user1", "INBOX")
	if len(got) != 1 || !bytes.Contains(got[0].Body, []byte("only in a")) {
		t.Errorf("after restart: %d messages", len(got))
	}
	if _, err := Start(Options{Dir: a.Dir}); err == nil {
		t.Error("second Start on a running instance's Dir succeeded")
	}
}

func TestLongDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("long-directory-name-", 5))
	s := StartT(t, Options{Dir: dir})
	if s.tmpBaseDir == "" {
		t.Fatalf("base_dir %s kept under a %d-byte Dir", s.baseDir, len(dir))
	}
	if _, err := s.Append("user1", "INBOX", msg("Subject: x", "", "x"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.tmpBaseDir); !os.IsNotExist(err) {
		t.Errorf("short base_dir %s not removed: %v", s.tmpBaseDir, err)
	}
}

// loadMessages builds n distinct messages of about size bytes.
func loadMessages(n, size int) [][]byte {
	line := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz ", 2)[:70] + "\r\n"
	msgs := make([][]byte, n)
	for i := range msgs {
		var b bytes.Buffer
		fmt.Fprintf(&b, "From: load%d@example.org\r\nTo: user1@example.org\r\nSubject: load %d\r\nMessage-ID: <load%d@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n", i, i, i)
		for b.Len() < size {
			b.WriteString(line)
		}
		msgs[i] = b.Bytes()
	}
	return msgs
}

func TestLoad(t *testing.T) {
	s := StartT(t)
	n := 10000
	if testing.Short() {
		n = 500
	}
	msgs := loadMessages(n, 5*1024)
	total := 0
	for _, m := range msgs {
		total += len(m)
	}
	date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	if err := s.Load("user1", "Bulk", msgs, date); err != nil {
		t.Fatal(err)
	}
	d := time.Since(t0)
	t.Logf("Load: %d messages, %.1f MB in %v (%.0f msg/s, %.1f MB/s)", n, float64(total)/1e6, d, float64(n)/d.Seconds(), float64(total)/1e6/d.Seconds())

	c, err := s.Dial("user1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status("Bulk", &imap.StatusOptions{NumMessages: true, UIDNext: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != uint32(n) || st.UIDNext != imap.UID(n+1) {
		t.Fatalf("STATUS Bulk: %d messages, UIDNEXT %d; want %d, %d", *st.NumMessages, st.UIDNext, n, n+1)
	}
	if _, err := c.Select("Bulk", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	for _, uid := range []imap.UID{1, imap.UID(n / 2), imap.UID(n)} {
		got, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil || len(got) != 1 {
			t.Fatalf("fetch UID %d: %v, %d results", uid, err, len(got))
		}
		if !bytes.Equal(got[0].FindBodySection(section), msgs[uid-1]) {
			t.Errorf("UID %d: body differs from message %d", uid, uid-1)
		}
		if !got[0].InternalDate.Equal(date) {
			t.Errorf("UID %d: INTERNALDATE %v", uid, got[0].InternalDate)
		}
	}
}

func TestLoadMailboxNames(t *testing.T) {
	// (The encoding itself is imapconn.EncodeMailbox's, tested there.)
	s := StartT(t)
	for _, mailbox := range []string{"Entwürfe & Co/日本語", "INBOX", "with \"quotes\" and \\"} {
		msgs := loadMessages(3, 100)
		if err := s.Load("user1", mailbox, msgs, time.Time{}); err != nil {
			t.Fatalf("Load into %q: %v", mailbox, err)
		}
		got, _ := fetchAll(t, s, "user1", mailbox)
		if len(got) != 3 || !bytes.Equal(got[2].Body, msgs[2]) {
			t.Errorf("%q: %d messages after Load", mailbox, len(got))
		}
	}
}

func TestStartTWithoutDovecot(t *testing.T) {
	saved := available
	t.Cleanup(func() { available = saved })
	available = func() error { return errors.New("dovecot not found") }
	for _, tc := range []struct {
		ci       string
		wantSkip bool
	}{{"", true}, {"false", true}, {"true", false}, {"1", false}} {
		t.Setenv("CI", tc.ci)
		f := proc.Run(t, func(tb testing.TB) { StartT(tb) })
		if f.Returned {
			t.Errorf("CI=%q: StartT returned without Dovecot", tc.ci)
		}
		if tc.wantSkip && (f.Skip == "" || f.Fatal != "") || !tc.wantSkip && (f.Fatal == "" || f.Skip != "") {
			t.Errorf("CI=%q: skip %q, fatal %q", tc.ci, f.Skip, f.Fatal)
		}
	}
}

func BenchmarkStartStop(b *testing.B) {
	proc.Need(b, "testenv/dovecot: Dovecot", Available(), installHint)
	var start, stop time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		s, err := Start(Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
		start += t1.Sub(t0)
		stop += time.Since(t1)
	}
	b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "start-ms/op")
	b.ReportMetric(float64(stop.Milliseconds())/float64(b.N), "stop-ms/op")
}
