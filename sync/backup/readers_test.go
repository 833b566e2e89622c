package backup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/mutt"
)

// readerCorpus loads folders with a few messages each into a Dovecot and
// backs them up; it returns the archive and the message count per archive
// folder path.
func readerCorpus(t *testing.T, s *dovecot.Server, folders map[string]int) (*archive.Archive, map[string]int) {
	t.Helper()
	want := map[string]int{}
	for folder, n := range folders {
		var msgs [][]byte
		for i := 0; i < n; i++ {
			msgs = append(msgs, []byte(fmt.Sprintf("Subject: %s %d\r\nMessage-ID: <%d.%s@x>\r\n\r\nFrom the body\r\n>From quoted\r\n", folder, i, i, folder)))
		}
		if err := s.Load("user1", folder, msgs, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	a := newArchive(t)
	res := Backup(context.Background(), []Account{dovecotAccount(t, s, imapconn.TLS)}, Options{Archive: a})[0]
	if res.Err != nil || len(res.Run.Warnings) > 0 {
		t.Fatalf("backup: %v %v", res.Err, res.Run.Warnings)
	}
	for _, fr := range res.Run.Folders {
		want[fr.Path] = fr.Archived
	}
	return a, want
}

// README "The archive": a reader pointed at an account's directory sees exactly
// the mail folders. A second, private Dovecot serves a copy of the account
// directory as mbox storage (a copy: Dovecot's mbox driver writes into the
// files it serves); it must list exactly the archived folders, Lifeboat's
// own local folder among them, and hand out every message.
func TestArchiveServedByDovecot(t *testing.T) {
	src := dovecot.StartT(t)
	a, want := readerCorpus(t, src, map[string]int{"INBOX": 5, "Work": 3, "Lists/golang-nuts": 4, "Entwürfe": 2})
	if _, err := a.AddLocal(context.Background(), "dove", archive.SentFolder, []byte("Subject: sent\r\n\r\nsent by Lifeboat\r\n"), time.Now(), nil, time.Second); err != nil {
		t.Fatal(err)
	}
	want[archive.LocalFolder("dove", archive.SentFolder).Path()] = 1

	dst := dovecot.StartT(t, dovecot.Options{MailLocation: "mbox:~/archive:UTF-8:INBOX=~/archive/INBOX.mbox"})
	copyTree(t, filepath.Join(a.Root, "dove"), filepath.Join(dst.Home("user1"), "archive"), dst)

	c, err := dst.Dial("user1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range list {
		if imapconn.HasAttr(m.Attrs, imap.MailboxAttrNoSelect) {
			continue // a directory of nested folders
		}
		st, err := c.Status(m.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatalf("Dovecot cannot open %q: %v", m.Mailbox, err)
		}
		got[strings.TrimSuffix(m.Mailbox, ".mbox")] = int(*st.NumMessages)
	}
	if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Fatalf("Dovecot serves %v, the archive holds %v", sorted(got), sorted(want))
	}
}

// mutt (Debian's) opens each archived mbox file read-only and counts its
// messages as the archive does.
func TestArchiveOpenedByMutt(t *testing.T) {
	src := dovecot.StartT(t)
	a, want := readerCorpus(t, src, map[string]int{"INBOX": 7, "Lists/golang-nuts": 3})
	for path, n := range want {
		id := archive.FolderID{Account: "dove", Name: path, Delim: '/'}
		if got := mutt.Count(t, a.MboxPath(id)); got != n {
			t.Errorf("mutt counts %d messages in %s, the archive %d", got, path, n)
		}
	}
}

// copyTree copies dir to a user's home of a Dovecot, owned by its mail user.
func copyTree(t *testing.T, from, to string, s *dovecot.Server) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	uid, gid := s.MailOwner()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), to).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
}

func sorted(m map[string]int) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

// Folder names do not depend on the server's namespace: from a server that
// names folders as Cyrus does ("INBOX." personal namespace, "." separator)
// the folder INBOX.Lists.golang-nuts is archived as Lists/golang-nuts, as
// from any other server; an archive an earlier Lifeboat made under the full
// names is renamed, nothing fetched again.
func TestNamespacePrefixIsNotPartOfArchiveNames(t *testing.T) {
	s := dovecot.StartT(t, dovecot.Options{Prefix: "INBOX.", Separator: "."})
	a, want := readerCorpus(t, s, map[string]int{"INBOX": 2, "INBOX.Lists.golang-nuts": 3, "INBOX.Sent": 1})
	if fmt.Sprint(sorted(want)) != "[INBOX=2 Lists/golang-nuts=3 Sent=1]" {
		t.Fatalf("archive folders: %v", sorted(want))
	}
	if !exists(a.MboxPath(archive.FolderID{Account: "dove", Name: "Lists.golang-nuts", Delim: '.'})) ||
		!strings.HasSuffix(a.MboxPath(archive.FolderID{Account: "dove", Name: "Lists.golang-nuts", Delim: '.'}), filepath.Join("dove", "Lists", "golang-nuts.mbox")) {
		t.Fatal("Lists/golang-nuts.mbox is not where it should be")
	}
	// As an earlier Lifeboat had it: under the full names.
	unlock, _ := a.LockAccount("dove")
	for _, n := range []string{"Lists.golang-nuts", "Sent"} {
		if err := a.RenameFolder(archive.FolderID{Account: "dove", Name: n, Delim: '.'}, archive.FolderID{Account: "dove", Name: "INBOX." + n, Delim: '.'}); err != nil {
			t.Fatal(err)
		}
	}
	unlock()
	s.Load("user1", "INBOX.Lists.golang-nuts", [][]byte{[]byte("Subject: new\r\n\r\nnew\r\n")}, time.Now())
	res := Backup(context.Background(), []Account{dovecotAccount(t, s, imapconn.TLS)}, Options{Archive: a})[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if fr := folderRun(res, "Lists/golang-nuts"); fr.New != 1 || fr.Archived != 4 {
		t.Fatalf("after the rename: %+v", fr)
	}
	if fr := folderRun(res, "Sent"); fr.New != 0 || fr.Archived != 1 {
		t.Fatalf("Sent after the rename: %+v", fr)
	}
	ids, _ := a.Folders("dove")
	var paths []string
	for _, id := range ids {
		paths = append(paths, id.Path())
	}
	if strings.Join(paths, " ") != "INBOX Lists/golang-nuts Sent" {
		t.Fatalf("folders after the rename: %v", paths)
	}
	if exists(filepath.Join(a.Root, "dove", "INBOX")) {
		t.Fatal("an empty INBOX directory was left behind")
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
