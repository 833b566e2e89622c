package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/store/export"
	"github.com/lifeboat-mail/lifeboat/store/importer"
	"github.com/lifeboat-mail/lifeboat/sync/restore"
)

func (f *fake) ArchivedAccounts() []string { return []string{"old-isp", "bt"} }
func (f *fake) ArchivedFolders(a string) []string {
	if a == "old-isp" {
		return []string{"INBOX", "Sent", "Work/2026"}
	}
	return []string{"INBOX"}
}

// Restore plays a restore: two folders, one message refused.
func (f *fake) Restore(ctx context.Context, req engine.RestoreRequest, dryRun bool, progress func(restore.Event)) *restore.Report {
	f.mu.Lock()
	f.restores = append(f.restores, restoreCall{req, dryRun})
	f.mu.Unlock()
	inbox := &restore.FolderReport{Target: "INBOX", Sources: []string{"INBOX"}, Archived: 10, Deleted: 2, ToAppend: 8, ToAppendBytes: 8 << 10, There: 2}
	work := &restore.FolderReport{Target: "Work/2026", Sources: []string{"Work/2026"}, Archived: 3, ToAppend: 3, ToAppendBytes: 3 << 10}
	if !dryRun {
		progress(restore.Event{Kind: restore.Learned, Folder: "INBOX", Report: inbox})
		time.Sleep(120 * time.Millisecond)
		progress(restore.Event{Kind: restore.Progress, Folder: "INBOX", Messages: 4, Bytes: 4 << 10})
		inbox.Appended, inbox.Bytes = 8, 8<<10
		work.Appended, work.Bytes = 2, 2<<10
		work.Refused = []restore.Refusal{{MessageID: "<big@x>", Date: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), Why: "the server said: Message too large"}}
	}
	return &restore.Report{Target: req.To, DryRun: dryRun, Folders: []*restore.FolderReport{inbox, work}}
}

func (f *fake) Export(account, format, dest string) (export.Result, error) {
	return export.Result{}, nil
}
func (f *fake) Import(account, path, folder string) (importer.Result, error) {
	return importer.Result{}, nil
}

func waitRestore(t *testing.T, v *RestoreView) {
	t.Helper()
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the wizard did not finish its background step")
	}
}

func TestRestoreWizard(t *testing.T) {
	f, w := setup(t)
	test.Tap(w.Archive.RestoreButton)
	v := w.RestoreDialog
	if v == nil {
		t.Fatal("no wizard")
	}
	waitRestore(t, v)
	w.Wait() // the archived accounts, and the first one's folders
	if v.From.Selected != "old-isp" || len(v.Folders.Selected) != 3 {
		t.Fatalf("from %q, folders %v", v.From.Selected, v.Folders.Selected)
	}
	// Nothing to restore into yet.
	test.Tap(v.Preview)
	if !strings.Contains(v.Status.Text, "Choose") {
		t.Fatalf("status %q", v.Status.Text)
	}
	v.To.SetSelected("gmail")
	v.Folders.SetSelected([]string{"INBOX", "Work/2026"})
	test.Type(v.Into, "Restored")
	test.Tap(v.Preview)
	w.Wait()
	if !strings.Contains(v.Report.Text, "Would append 11 messages") || !strings.Contains(v.Report.Text, "2 of the messages had been deleted on the old server") {
		t.Fatalf("preview:\n%s", v.Report.Text)
	}
	test.Tap(v.Start)
	w.Wait()
	if !strings.Contains(v.Report.Text, "Appended 10 messages") || !strings.Contains(v.Report.Text, "refused: <big@x> of 2024-01-02: the server said: Message too large") {
		t.Fatalf("report:\n%s", v.Report.Text)
	}
	if v.Progress.Value != 1 || v.Start.Disabled() || !v.Stop.Disabled() {
		t.Errorf("after the restore: progress %v, start disabled %v, stop disabled %v", v.Progress.Value, v.Start.Disabled(), v.Stop.Disabled())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.restores) != 2 || !f.restores[0].dryRun || f.restores[1].dryRun {
		t.Fatalf("calls: %+v", f.restores)
	}
	want := engine.RestoreRequest{From: "old-isp", To: "gmail", Into: "Restored", Folders: []string{"INBOX", "Work/2026"}}
	if got := f.restores[1].req; got.From != want.From || got.To != want.To || got.Into != want.Into || strings.Join(got.Folders, ",") != "INBOX,Work/2026" {
		t.Fatalf("request %+v, want %+v", got, want)
	}
}
