package archive

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

var repairBodies = []string{
	"Subject: one\r\nMessage-ID: <1@x>\r\n\r\nfirst message\r\n",
	"Subject: two\r\nMessage-ID: <2@x>\r\n\r\n" + strings.Repeat("second message, long enough to be cut into\r\n", 40),
	"Subject: three\r\nMessage-ID: <3@x>\r\n\r\nthird message\r\n",
}

// repaired checks a folder after Repair: it opens, verifies clean, and
// every byte the mbox had is in the mbox or in quarantine.
func repaired(t *testing.T, a *Archive, rep RepairReport, before []byte) *Folder {
	t.Helper()
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatalf("after repair: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	if len(f.Quarantined) != 0 || f.Adopted != 0 {
		t.Fatalf("open after repair still recovered: %v, %d adopted", f.Quarantined, f.Adopted)
	}
	if _, damage, err := a.VerifyFolder(inbox, nil); err != nil || len(damage) != 0 {
		t.Fatalf("verify after repair: %v %v", damage, err)
	}
	// What the mbox lost from its end is in quarantine.
	after, _ := os.ReadFile(a.MboxPath(inbox))
	kept := after[:min(len(after), len(before))]
	for _, qq := range rep.Quarantined {
		if strings.HasSuffix(qq.From, ".mbox") {
			b, _ := os.ReadFile(qq.To)
			kept = append(kept, b...)
		}
	}
	if !bytes.Equal(kept, before) {
		t.Fatalf("bytes were lost: mbox and quarantine hold %d of %d", len(kept), len(before))
	}
	if f.State != (State{}) {
		t.Fatalf("the checkpoint survived the repair: %+v", f.State)
	}
	return f
}

func TestRepairTruncatedMbox(t *testing.T) {
	a := newArchive(t)
	before := archiveOf(t, a, inbox, repairBodies...)
	cut := len(before) - 1000
	os.Truncate(a.MboxPath(inbox), int64(cut))
	if _, err := a.OpenFolder(inbox); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open of a truncated mbox: %v", err)
	}
	rep, err := a.Repair(inbox)
	if err != nil {
		t.Fatal(err)
	}
	// Message 2 was cut, message 3 is gone: both marked, the part of 2 kept.
	if len(rep.Damaged) != 2 || rep.Damaged[0].UID != 2 || rep.Damaged[1].UID != 3 || len(rep.Quarantined) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	f := repaired(t, a, rep, before[:cut])
	if len(f.Entries()) != 1 || f.Lookup(9, 2) != nil || f.Lookup(9, 1) == nil || len(f.Damaged()) != 2 {
		t.Fatalf("entries %d, damaged %d", len(f.Entries()), len(f.Damaged()))
	}
	// The good copies come back at the end.
	appendAll(t, f, repairBodies[1:]...)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n, damage, err := a.VerifyFolder(inbox, nil); err != nil || n != 3 || len(damage) != 0 {
		t.Fatalf("verify: %d %v %v", n, damage, err)
	}
}

func TestRepairGarbageInLog(t *testing.T) {
	a := newArchive(t)
	before := archiveOf(t, a, inbox, repairBodies...)
	logBefore, _ := os.ReadFile(a.LogPath(inbox))
	lf, _ := os.OpenFile(a.LogPath(inbox), os.O_WRONLY|os.O_APPEND, 0)
	lf.WriteString("garbage\x00\xff\nmore garbage\n")
	lf.Close()
	if _, err := a.OpenFolder(inbox); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open with a damaged log: %v", err)
	}
	rep, err := a.Repair(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if rep.LogLines != 2 || len(rep.Damaged) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	f := repaired(t, a, rep, before)
	if len(f.Entries()) != 3 {
		t.Fatalf("%d entries", len(f.Entries()))
	}
	logAfter, _ := os.ReadFile(a.LogPath(inbox))
	if !bytes.HasPrefix(logAfter, logBefore) {
		t.Fatal("the good lines of the log were not kept as they were")
	}
}

// A damaged record in the middle of the log: the message it described is
// adopted from the mbox, nothing is lost.
func TestRepairLostLogLineAdoptsItsMessage(t *testing.T) {
	a := newArchive(t)
	before := archiveOf(t, a, inbox, repairBodies...)
	log, _ := os.ReadFile(a.LogPath(inbox))
	i := bytes.Index(log, []byte(`"uid":2`))
	i = bytes.LastIndexByte(log[:i], '\n') + 1
	log[i] = 'X' // the UID 2 line no longer parses
	os.WriteFile(a.LogPath(inbox), log, 0o600)
	rep, err := a.Repair(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if rep.LogLines != 1 || rep.Adopted != 1 {
		t.Fatalf("report: %+v", rep)
	}
	f := repaired(t, a, rep, before)
	if len(f.Entries()) != 3 || f.Lookup(9, 2) != nil || f.Unmatched() != 1 {
		t.Fatalf("%d entries, %d unmatched", len(f.Entries()), f.Unmatched())
	}
}

func TestRepairFlippedByte(t *testing.T) {
	a := newArchive(t)
	before := archiveOf(t, a, inbox, repairBodies...)
	b := append([]byte{}, before...)
	b[bytes.Index(b, []byte("third"))] = 'T'
	os.WriteFile(a.MboxPath(inbox), b, 0o600)
	rep, err := a.Repair(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damaged) != 1 || rep.Damaged[0].UID != 3 || !strings.Contains(rep.Damaged[0].Problem, "content changed") {
		t.Fatalf("report: %+v", rep)
	}
	f := repaired(t, a, rep, b)
	if after, _ := os.ReadFile(a.MboxPath(inbox)); !bytes.Equal(after, b) {
		t.Fatal("the damaged record's bytes were touched")
	}
	if f.Lookup(9, 3) != nil || len(f.Entries()) != 2 {
		t.Fatal("the damaged message is still taken as archived")
	}
	// Nothing more to do the second time.
	if rep, err := a.Repair(inbox); err != nil || rep.Changed() {
		t.Fatalf("second repair: %+v %v", rep, err)
	}
}

func TestRepairMissingMbox(t *testing.T) {
	a := newArchive(t)
	archiveOf(t, a, inbox, repairBodies...)
	os.Remove(a.MboxPath(inbox))
	rep, err := a.Repair(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.MboxMissing || len(rep.Damaged) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	f := repaired(t, a, rep, nil)
	if len(f.Entries()) != 0 || len(f.Current()) != 0 {
		t.Fatal("messages of a lost file still taken as archived")
	}
}

func TestRepairOfAHealthyFolderChangesNothing(t *testing.T) {
	a := newArchive(t)
	before := archiveOf(t, a, inbox, repairBodies...)
	logBefore, _ := os.ReadFile(a.LogPath(inbox))
	rep, err := a.Repair(inbox)
	if err != nil || rep.Changed() {
		t.Fatalf("%+v %v", rep, err)
	}
	after, _ := os.ReadFile(a.MboxPath(inbox))
	logAfter, _ := os.ReadFile(a.LogPath(inbox))
	if !bytes.Equal(after, before) || !bytes.Equal(logAfter, logBefore) {
		t.Fatal("a healthy folder was changed")
	}
}
