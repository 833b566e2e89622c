package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

// TestServeCommand: the archive of a backup, served by "lifeboat serve",
// read by a client with the password --show-credentials prints (kept in
// the real Secret Service); the process stops cleanly on SIGTERM.
func TestServeCommand(t *testing.T) {
	needKeyring(t)
	s := dovecot.StartT(t)
	for i := 0; i < 7; i++ {
		if _, err := s.Append("user1", "INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)), nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append("user1", "Work/2026", []byte("Subject: w\r\n\r\nwork\r\n"), []imap.Flag{imap.FlagSeen}, time.Now()); err != nil {
		t.Fatal(err)
	}
	bin := buildLifeboat(t)
	cfg := writeConfig(t, s, filepath.Join(t.TempDir(), "archive"))
	env := append(os.Environ(), "XDG_DATA_HOME="+t.TempDir())
	run := func(args ...string) string {
		cmd := exec.Command(bin, append([]string{"--config", cfg}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("lifeboat %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("backup")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	out := run("serve", "--listen", addr, "--show-credentials")
	m := regexp.MustCompile(`password:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no password in:\n%s", out)
	}
	if again := run("serve", "--listen", addr, "--show-credentials"); !bytes.Contains([]byte(again), []byte(m[1])) {
		t.Fatal("the password changed between runs")
	}
	cmd := exec.Command(bin, "--config", cfg, "serve", "--listen", addr)
	cmd.Env = env
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}()
	var c *imapclient.Client
	for i := 0; i < 100; i++ {
		var err error
		if c, err = imapclient.DialInsecure(addr, nil); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c == nil {
		t.Fatalf("serve did not listen:\n%s", log.String())
	}
	defer c.Close()
	if err := c.Login("lifeboat", m[1]).Wait(); err != nil {
		t.Fatal(err)
	}
	for folder, n := range map[string]uint32{"INBOX": 7, "Work/2026": 1} {
		st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
		if err != nil || *st.NumMessages != n {
			t.Fatalf("%s: %+v %v, want %d messages", folder, st, err, n)
		}
		if folder == "Work/2026" && *st.NumUnseen != 0 {
			t.Errorf("the archived \\Seen flag is not served")
		}
	}
	c.Logout().Wait()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("serve ended with %v:\n%s", err, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}
