package archive

import (
	"os"
	"testing"
	"time"
)

// checkpointed makes a folder of n messages whose last record is a
// summed-up checkpoint, as a backup leaves it.
func checkpointed(t *testing.T, a *Archive, n int) State {
	t.Helper()
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(7)
	for range n {
		appendAll(t, f, "Subject: x\r\n\r\nbody\r\n")
	}
	st := State{UIDValidity: 7, UIDNext: uint32(n + 1), HighestModSeq: 42, Messages: uint32(n), At: time.Unix(1700000001, 0), Role: `\Sent`}
	f.Checkpoint(st)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPeekFolderReadsTheSummedUpCheckpoint(t *testing.T) {
	for _, n := range []int{0, 3} {
		a := newArchive(t)
		want := checkpointed(t, a, n)
		s, ok := a.PeekFolder(inbox)
		if !ok {
			t.Fatalf("%d messages: PeekFolder found no summary", n)
		}
		if s.State != want || s.Messages != n || s.Unmatched != 0 || s.TopUID != uint32(n) || time.Since(s.ReadWhole) > time.Minute {
			t.Errorf("%d messages: PeekFolder = %+v, want state %+v and %d messages", n, s, want, n)
		}
		// And the full opening agrees with it.
		f, err := a.ReadFolder(inbox)
		if err != nil {
			t.Fatal(err)
		}
		if f.State != s.State || len(f.Entries()) != s.Messages || f.Unmatched() != s.Unmatched {
			t.Errorf("%d messages: ReadFolder has %+v, %d entries; PeekFolder said %+v", n, f.State, len(f.Entries()), s)
		}
	}
}

// A checkpoint without a role keeps the one recorded before, in the
// summary as in the replay.
func TestPeekFolderKeepsTheRoleOfAnEarlierCheckpoint(t *testing.T) {
	a := newArchive(t)
	checkpointed(t, a, 1)
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	f.Checkpoint(State{UIDValidity: 7, UIDNext: 2, Messages: 1, At: time.Unix(1700000002, 0)})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s, ok := a.PeekFolder(inbox)
	if !ok || s.State.Role != `\Sent` {
		t.Errorf("PeekFolder = %+v, %v; want the role \\Sent kept", s, ok)
	}
}

// Whatever happened after the checkpoint sends the caller to the full
// opening, which recovers and reports it.
func TestPeekFolderDeclinesWhatTheCheckpointDoesNotCover(t *testing.T) {
	cases := map[string]func(t *testing.T, a *Archive){
		"records after it": func(t *testing.T, a *Archive) {
			f, err := a.OpenFolder(inbox)
			if err != nil {
				t.Fatal(err)
			}
			f.SetFlags(f.Lookup(7, 1), []string{`\Flagged`})
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		},
		"bytes a killed run left in the mbox": func(t *testing.T, a *Archive) {
			appendFile(t, a.MboxPath(inbox), "From x Thu Jan  1 00:00:00 2026\nSubject: y\n\nbody\n\n")
		},
		"a torn last line": func(t *testing.T, a *Archive) {
			appendFile(t, a.LogPath(inbox), `{"t":"f","uv":7,"ui`)
		},
		"a shorter mbox": func(t *testing.T, a *Archive) {
			st, err := os.Stat(a.MboxPath(inbox))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(a.MboxPath(inbox), st.Size()-3); err != nil {
				t.Fatal(err)
			}
		},
		"no mbox": func(t *testing.T, a *Archive) {
			if err := os.Remove(a.MboxPath(inbox)); err != nil {
				t.Fatal(err)
			}
		},
		"a checkpoint of an older Lifeboat": func(t *testing.T, a *Archive) {
			appendFile(t, a.LogPath(inbox), `{"t":"s","uv":7,"uidnext":4,"count":3,"at":1700000001}`+"\n")
		},
		"a reset by repair": func(t *testing.T, a *Archive) {
			appendFile(t, a.LogPath(inbox), `{"t":"s"}`+"\n")
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			a := newArchive(t)
			checkpointed(t, a, 3)
			if _, ok := a.PeekFolder(inbox); !ok {
				t.Fatal("no summary before the change")
			}
			change(t, a)
			if s, ok := a.PeekFolder(inbox); ok {
				t.Errorf("PeekFolder = %+v after %s, want no summary", s, name)
			}
		})
	}
	if _, ok := newArchive(t).PeekFolder(inbox); ok {
		t.Error("PeekFolder of a folder not archived gave a summary")
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Adopted messages not matched to the server yet are counted: a backup
// then opens the folder to match them.
func TestPeekFolderCountsUnmatchedAdoptions(t *testing.T) {
	a := newArchive(t)
	st := checkpointed(t, a, 2)
	appendFile(t, a.MboxPath(inbox), "From x Thu Jan  1 00:00:00 2026\nSubject: y\n\nbody\n\n")
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if f.Adopted != 1 {
		t.Fatalf("adopted %d, want 1", f.Adopted)
	}
	f.Checkpoint(st)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if s, ok := a.PeekFolder(inbox); !ok || s.Unmatched != 1 || s.Messages != 3 {
		t.Errorf("PeekFolder = %+v, %v; want 3 messages, 1 unmatched", s, ok)
	}
}
