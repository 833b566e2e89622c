package config

import "testing"

func TestWantsFolder(t *testing.T) {
	tests := []struct {
		name             string
		include, exclude []string
		folder           string
		want             bool
	}{
		{"default includes everything", nil, nil, "Archive/2020/Q1", true},
		{"default includes INBOX", nil, nil, "INBOX", true},
		{"exact", []string{"Sent"}, nil, "Sent", true},
		{"exact is case-sensitive", []string{"Sent"}, nil, "sent", false},
		{"INBOX is case-insensitive in the name", []string{"INBOX"}, nil, "inbox", true},
		{"INBOX is case-insensitive in the pattern", []string{"Inbox"}, nil, "INBOX", true},
		{"INBOX children", []string{"INBOX/%"}, nil, "Inbox/Receipts", true},
		{"INBOX prefix only as a whole level", []string{"INBOX"}, nil, "INBOXES", false},
		{"star crosses levels", []string{"Archive/*"}, nil, "Archive/2020/Q1", true},
		{"percent stays in one level", []string{"Archive/%"}, nil, "Archive/2020/Q1", false},
		{"percent matches one level", []string{"Archive/%"}, nil, "Archive/2020", true},
		{"percent at top", []string{"%"}, nil, "Sent", true},
		{"percent at top not nested", []string{"%"}, nil, "Lists/go", false},
		{"star in the middle", []string{"*/Spam"}, nil, "Lists/go/Spam", true},
		{"several patterns", []string{"Sent", "Drafts"}, nil, "Drafts", true},
		{"not included", []string{"Sent", "Drafts"}, nil, "Trash", false},
		{"excluded", nil, []string{"Trash", "Junk"}, "Junk", false},
		{"exclude wins over include", []string{"Lists/*"}, []string{"Lists/noisy/*"}, "Lists/noisy/a", false},
		{"exclude only its match", []string{"Lists/*"}, []string{"Lists/noisy/*"}, "Lists/quiet", true},
		{"exclude INBOX case-insensitively", nil, []string{"inbox"}, "INBOX", false},
		{"unicode", []string{"Entw%rfe"}, nil, "Entwürfe", true},
		{"empty name", nil, nil, "", true},
		{"pathological pattern", []string{"*a*a*a*a*a*a*a*a*b"}, nil, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Account{Include: tt.include, Exclude: tt.exclude}
			if got := a.WantsFolder(tt.folder); got != tt.want {
				t.Errorf("include %q exclude %q: WantsFolder(%q) = %v, want %v", tt.include, tt.exclude, tt.folder, got, tt.want)
			}
		})
	}
}
