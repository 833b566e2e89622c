package imapconn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

func dovecotEndpoint(s *dovecot.Server, user string, sec imapconn.Security) imapconn.Endpoint {
	addr := s.IMAPSAddr
	if sec != imapconn.TLS {
		addr = s.IMAPAddr
	}
	host, port, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(port, &n)
	return imapconn.Endpoint{Host: host, Port: n, Security: sec, Username: user, CAFile: s.CAFile, Timeout: 10 * time.Second}
}

func msg(i int) imapconn.AppendMsg {
	raw := fmt.Sprintf("From: a@x.test\r\nMessage-ID: <%d@x.test>\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i, i)
	return imapconn.AppendMsg{Flags: []string{`\Seen`, "$Label1"}, Date: time.Date(2020, 2, 3, 4, 5, 6, 0, time.FixedZone("", 3600)),
		Size: int64(len(raw)), Write: func(w io.Writer) error { _, err := io.WriteString(w, raw); return err }}
}

func TestAppenderAgainstDovecot(t *testing.T) {
	// A password quoting cannot carry: it goes as a literal.
	users := map[string]string{"u": "pä\"ss\\wörd", "v": "plain-pw"}
	s := dovecot.StartT(t, dovecot.Options{Users: users})
	ctx := context.Background()
	for _, sec := range []imapconn.Security{imapconn.TLS, imapconn.StartTLS, imapconn.Plain} {
		t.Run(string(sec), func(t *testing.T) {
			a, err := imapconn.DialAppender(ctx, dovecotEndpoint(s, "u", sec), users["u"])
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if !a.Has(imap.CapMultiAppend) || !a.Has(imap.CapUIDPlus) {
				t.Fatal("Dovecot's capabilities after login were not read")
			}
			folder := "Reçus/Été " + string(sec)
			c, err := s.Dial("u")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Create(folder, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			next, err := a.UIDNext(folder)
			if err != nil || next != 1 {
				t.Fatalf("UIDNEXT %d, %v", next, err)
			}
			uv, uids, err := a.MultiAppend(folder, []imapconn.AppendMsg{msg(1), msg(2), msg(3)})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(uids) != "[1 2 3]" || uv == 0 {
				t.Fatalf("APPENDUID %d %v", uv, uids)
			}
			sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil || sel.NumMessages != 3 || sel.UIDValidity != uv {
				t.Fatalf("the folder holds %+v, %v", sel, err)
			}
			got, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, InternalDate: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got {
				var fl []string
				for _, f := range m.Flags {
					if f != `\Recent` {
						fl = append(fl, string(f))
					}
				}
				if !m.InternalDate.Equal(msg(0).Date) || strings.Join(fl, " ") != `\Seen $Label1` {
					t.Errorf("message %d: date %v flags %v", m.SeqNum, m.InternalDate, m.Flags)
				}
			}
			// A NO for the whole command (no such folder): nothing appended,
			// and the connection goes on.
			_, _, err = a.MultiAppend("No such folder", []imapconn.AppendMsg{msg(4)})
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeTryCreate {
				t.Fatalf("append to a missing folder: %v", err)
			}
			if next, err := a.UIDNext(folder); err != nil || next != 4 {
				t.Fatalf("after the NO: UIDNEXT %d, %v", next, err)
			}
		})
	}
	_, err := imapconn.DialAppender(ctx, dovecotEndpoint(s, "v", imapconn.TLS), "wrong")
	if kindOf(t, err) != imapconn.KindAuth || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("a wrong password: %v", err)
	}
	remote := dovecotEndpoint(s, "v", imapconn.Plain)
	remote.Host = "imap.example.com"
	if _, err := imapconn.DialAppender(ctx, remote, "x"); kindOf(t, err) != imapconn.KindTLS {
		t.Fatalf("plain to a remote host: %v", err)
	}
	// A message that writes fewer bytes than it announced: an error, and
	// the server stores nothing of it.
	a, err := imapconn.DialAppender(ctx, dovecotEndpoint(s, "v", imapconn.TLS), users["v"])
	if err != nil {
		t.Fatal(err)
	}
	short := msg(9)
	short.Size += 10
	if _, _, err := a.MultiAppend("INBOX", []imapconn.AppendMsg{msg(8), short}); err == nil {
		t.Fatal("a short message was not an error")
	}
	a.Close()
	c, err := s.Dial("v")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 0 {
		t.Fatalf("after a cut MULTIAPPEND the INBOX holds %+v (%v), want nothing", sel, err)
	}
}

func TestEncodeMailbox(t *testing.T) {
	for in, want := range map[string]string{"INBOX": "INBOX", "Reçus": "Re&AOc-us", "A&B": "A&-B", "日本語": "&ZeVnLIqe-",
		"Entwürfe & Co": "Entw&APw-rfe &- Co", "a/ü/b~": "a/&APw-/b~"} {
		if got := imapconn.EncodeMailbox(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}
