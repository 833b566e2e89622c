package imapconn_test

import (
	"bufio"
	"context"
	"encoding/base64"
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

// fakeIMAP runs script against one connection of an Appender: a minimal
// server that says what the test needs, to play servers Dovecot is not.
func fakeIMAP(t *testing.T, caps string, script func(tag string, r *bufio.Reader, w net.Conn)) imapconn.Endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "* OK ready\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, cmd, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
			switch {
			case strings.HasPrefix(cmd, "CAPABILITY"):
				fmt.Fprintf(c, "* CAPABILITY %s\r\n%s OK done\r\n", caps, tag)
			case strings.HasPrefix(cmd, "LOGOUT"):
				fmt.Fprintf(c, "* BYE\r\n%s OK bye\r\n", tag)
				return
			default:
				script(tag, r, c)
				return
			}
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	var n int
	fmt.Sscan(port, &n)
	return imapconn.Endpoint{Host: host, Port: n, Security: imapconn.Plain, Username: "u", Timeout: 3 * time.Second}
}

// AUTHENTICATE PLAIN without SASL-IR: the credentials follow the server's
// "+ ".
func TestAppenderAuthenticateWithoutSASLIR(t *testing.T) {
	ep := fakeIMAP(t, "IMAP4rev1 LOGINDISABLED AUTH=PLAIN", func(tag string, r *bufio.Reader, c net.Conn) {
		fmt.Fprintf(c, "+ \r\n")
		resp, _ := r.ReadString('\n')
		want := base64.StdEncoding.EncodeToString([]byte("\x00u\x00secret"))
		if strings.TrimSpace(resp) != want {
			fmt.Fprintf(c, "%s NO [AUTHENTICATIONFAILED] bad\r\n", tag)
			return
		}
		fmt.Fprintf(c, "%s OK logged in\r\n", tag)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, _, _ := strings.Cut(line, " ")
			fmt.Fprintf(c, "* CAPABILITY IMAP4rev1 MULTIAPPEND\r\n%s OK done\r\n", tag)
		}
	})
	a, err := imapconn.DialAppender(context.Background(), ep, "secret")
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

// A server that sends continuations nobody asked for (with LITERAL+) does
// not hang a MULTIAPPEND.
func TestAppenderUnaskedContinuations(t *testing.T) {
	ep := fakeIMAP(t, "IMAP4rev1 LITERAL+ MULTIAPPEND", func(tag string, r *bufio.Reader, c net.Conn) {
		// That was LOGIN: now the CAPABILITY, then the APPEND.
		fmt.Fprintf(c, "%s OK logged in\r\n", tag)
		line, _ := r.ReadString('\n')
		tag, _, _ = strings.Cut(line, " ")
		fmt.Fprintf(c, "* CAPABILITY IMAP4rev1 LITERAL+ MULTIAPPEND\r\n%s OK done\r\n", tag)
		line, _ = r.ReadString('\n')
		tag, _, _ = strings.Cut(line, " ")
		fmt.Fprintf(c, "+ go on\r\n+ go on\r\n+ and on\r\n")
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		fmt.Fprintf(c, "%s OK [APPENDUID 7 1:3] done\r\n", tag)
		r.ReadString('\n')
	})
	a, err := imapconn.DialAppender(context.Background(), ep, "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	done := make(chan error, 1)
	go func() {
		_, _, err := a.MultiAppend("INBOX", []imapconn.AppendMsg{msg(1), msg(2), msg(3)})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("MULTIAPPEND hung on continuations it had not asked for")
	}
}

// A NO instead of a synchronising literal's continuation: the command is
// over, the connection is marked broken (the rest would be read as
// commands).
func TestAppenderEarlyNoMarksBroken(t *testing.T) {
	ep := fakeIMAP(t, "IMAP4rev1 MULTIAPPEND", func(tag string, r *bufio.Reader, c net.Conn) {
		fmt.Fprintf(c, "%s OK logged in\r\n", tag)
		line, _ := r.ReadString('\n')
		tag, _, _ = strings.Cut(line, " ")
		fmt.Fprintf(c, "* CAPABILITY IMAP4rev1 MULTIAPPEND\r\n%s OK done\r\n", tag)
		line, _ = r.ReadString('\n')
		tag, _, _ = strings.Cut(line, " ")
		fmt.Fprintf(c, "%s NO [CANNOT] not taking it\r\n", tag)
		r.ReadString('\n')
	})
	a, err := imapconn.DialAppender(context.Background(), ep, "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, _, err = a.MultiAppend("INBOX", []imapconn.AppendMsg{msg(1)})
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeCannot {
		t.Fatalf("early NO: %v", err)
	}
	if !a.Broken() {
		t.Fatal("the connection is not marked broken")
	}
}
