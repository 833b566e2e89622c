package ui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/store/index"
	"github.com/lifeboat-mail/lifeboat/store/msgtext"
)

// ArchiveView browses and searches the archive offline: folders, a search
// box, a virtualized message list (fixed row height, so 100,000 rows scroll
// smoothly) and the message as readable text. Disk work runs in the
// background; results reach the widgets through fyne.Do.
type ArchiveView struct {
	root    fyne.CanvasObject
	Account *widget.Select
	Folders *widget.List
	Search  *widget.Entry
	List    *widget.List
	Reader  *widget.Label
	Status  *widget.Label
	// Attachments holds a Save button per attachment of the shown message.
	Attachments *fyne.Container
	// Chips add the common filters to the search.
	Chips *fyne.Container
	// RestoreButton opens the Restore wizard; Import and Export work on
	// the chosen account.
	RestoreButton, ImportButton, ExportButton *widget.Button

	folders  []string
	labels   []string // Gmail labels, listed after the folders
	label    string   // the label shown, "" for a folder
	rows     []index.Row
	total    int
	account  string
	folder   string
	query    string
	pageSize int
	selected int
	loading  bool
	done     chan struct{} // signalled after each background load (tests)
}

// RowText is the text of one message row.
func RowText(r index.Row) string {
	subj := r.Subject
	if subj == "" {
		subj = "(no subject)"
	}
	s := fmt.Sprintf("%s · %s · %s", r.Date.Local().Format("2 Jan 2006 15:04"), r.From, subj)
	if r.HasAttachment {
		s += " · 📎"
	}
	if !r.Gone.IsZero() {
		s += " · deleted on the server, kept here"
	}
	return s
}

// ReaderText is how a message is shown.
func ReaderText(r index.Row, m *msgtext.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: %s\n", r.From, r.To)
	if m != nil && m.Cc != "" {
		fmt.Fprintf(&b, "Cc: %s\n", m.Cc)
	}
	fmt.Fprintf(&b, "Subject: %s\nDate: %s\nFolder: %s/%s\n", r.Subject, r.Date.Local().Format("Mon, 2 Jan 2006 15:04"), r.Account, r.Folder)
	if len(r.Labels) > 0 {
		names := make([]string, len(r.Labels))
		for i, l := range r.Labels {
			names[i] = engine.LabelName(l)
		}
		fmt.Fprintf(&b, "Labels: %s\n", strings.Join(names, ", "))
	}
	if !r.Gone.IsZero() {
		fmt.Fprintf(&b, "Deleted on the server %s; kept in the archive.\n", r.Gone.Local().Format("2 Jan 2006 15:04"))
	}
	if m != nil {
		for _, a := range m.Attachments {
			fmt.Fprintf(&b, "Attachment: %s (%s, %d bytes)\n", a.Filename, a.ContentType, a.Size)
		}
		b.WriteString("\n" + m.Text)
		for _, p := range m.Problems {
			fmt.Fprintf(&b, "\n[%s]", p)
		}
	}
	return b.String()
}

func (w *Window) newArchive() *ArchiveView {
	v := &ArchiveView{pageSize: 500, selected: -1, done: make(chan struct{}, 10)}
	var names []string
	for _, a := range w.eng.Accounts() {
		names = append(names, a.Name)
	}
	v.Reader = widget.NewLabel("Choose a message.")
	v.Reader.Wrapping = fyne.TextWrapWord
	v.Attachments = container.NewHBox()
	v.Status = widget.NewLabel("")
	v.Search = widget.NewEntry()
	v.Search.SetPlaceHolder("Search all mail: words, \"a phrase\", from:tom, subject:invoice, has:attachment, after:2026-01-01")
	v.Search.OnSubmitted = func(q string) {
		v.query = strings.TrimSpace(q)
		v.rows, v.total = nil, 0
		v.load(w, 0)
	}
	addFilter := func(f func() string) func() {
		return func() {
			term := f()
			if term == "" {
				return
			}
			q := strings.TrimSpace(v.Search.Text + " " + term)
			v.Search.SetText(q)
			v.Search.OnSubmitted(q)
		}
	}
	v.Chips = container.NewHBox(
		widget.NewButton("Has attachment", addFilter(func() string { return "has:attachment" })),
		widget.NewButton("Last 30 days", addFilter(func() string { return "after:" + time.Now().AddDate(0, 0, -30).Format("2006-01-02") })),
		widget.NewButton("This folder", addFilter(func() string {
			if v.folder == "" {
				return ""
			}
			if strings.ContainsAny(v.folder, " \"") {
				return fmt.Sprintf("folder:%q", v.folder)
			}
			return "folder:" + v.folder
		})),
		widget.NewButton("Clear", func() {
			v.Search.SetText("")
			v.query, v.rows, v.total = "", nil, 0
			v.List.Refresh()
			v.Status.SetText("")
		}),
	)
	v.Folders = widget.NewList(
		func() int { return len(v.folders) + len(v.labels) },
		func() fyne.CanvasObject { return widget.NewLabel("folder") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(v.folderText(i)) })
	v.List = widget.NewList(
		func() int { return len(v.rows) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("message")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i == len(v.rows)-1 && len(v.rows) < v.total && v.query == "" {
				v.load(w, len(v.rows)) // next page when the end comes into view
			}
			o.(*widget.Label).SetText(RowText(v.rows[i]))
		})
	v.List.OnSelected = func(i widget.ListItemID) {
		v.selected = i
		r := v.rows[i]
		v.Reader.SetText(ReaderText(r, nil))
		v.Attachments.RemoveAll()
		w.tasks.Go(func() {
			m, err := w.eng.Read(r)
			fyne.Do(func() {
				if err != nil {
					v.Reader.SetText(ReaderText(r, nil) + "\nThe message could not be read from the archive: " + err.Error())
				} else {
					v.Reader.SetText(ReaderText(r, m))
					for _, a := range m.Attachments {
						a := a
						v.Attachments.Add(widget.NewButtonWithIcon("Save "+a.Filename, theme.DownloadIcon(), func() {
							d := dialog.NewFileSave(func(wc fyne.URIWriteCloser, err error) {
								if err != nil || wc == nil {
									return
								}
								path := wc.URI().Path()
								wc.Close()
								w.tasks.Go(func() {
									if err := w.eng.SaveAttachment(r, a.Part, path); err != nil {
										fyne.Do(func() { dialog.ShowError(err, w.win) })
									}
								})
							}, w.win)
							d.SetFileName(a.Filename)
							d.Show()
						}))
					}
				}
				v.signal()
			})
		})
	}
	v.Folders.OnSelected = func(i widget.ListItemID) {
		if i < len(v.folders) {
			v.folder, v.label = v.folders[i], ""
		} else {
			v.folder, v.label = "", v.labels[i-len(v.folders)]
		}
		v.query = ""
		v.Search.SetText("")
		v.rows = nil
		v.load(w, 0)
	}
	v.Account = widget.NewSelect(names, func(name string) {
		v.account = name
		v.folders, v.labels = w.eng.Folders(name), w.eng.Labels(name)
		v.rows, v.total = nil, 0
		v.Folders.UnselectAll()
		v.Folders.Refresh()
		v.List.Refresh()
	})
	if len(names) > 0 {
		v.Account.SetSelected(names[0])
	}
	w.refresh = append(w.refresh, func() {
		if v.account != "" {
			v.folders, v.labels = w.eng.Folders(v.account), w.eng.Labels(v.account)
			v.Folders.Refresh()
		}
	})
	v.RestoreButton = widget.NewButton("Restore…", func() { w.ShowRestore() })
	v.ImportButton = widget.NewButton("Import…", func() {
		if v.account != "" {
			w.ShowImport(v.account)
		}
	})
	v.ExportButton = widget.NewButton("Export…", func() {
		if v.account != "" {
			w.ShowExport(v.account)
		}
	})
	actions := container.NewVBox(v.RestoreButton, container.NewGridWithColumns(2, v.ImportButton, v.ExportButton))
	left := container.NewBorder(v.Account, actions, nil, nil, v.Folders)
	list := container.NewBorder(container.NewVBox(v.Search, v.Chips), v.Status, nil, nil, v.List)
	right := container.NewVSplit(list, container.NewBorder(nil, v.Attachments, nil, nil, container.NewScroll(v.Reader)))
	split := container.NewHSplit(left, right)
	split.Offset = 0.22
	v.root = split
	return v
}

// folderText is the text of the folder list's row i: a folder's path, or
// a label.
func (v *ArchiveView) folderText(i int) string {
	if i < len(v.folders) {
		return v.folders[i]
	}
	return "Label: " + engine.LabelName(v.labels[i-len(v.folders)])
}

// HandleKey moves through the message list from the keyboard: Up/Down a
// message, Page Up/Down a screenful, Home/End the ends. It reports whether
// it used the key.
func (v *ArchiveView) HandleKey(ev *fyne.KeyEvent) bool {
	n := len(v.rows)
	if n == 0 {
		return false
	}
	const page = 20
	cur := v.selected
	switch ev.Name {
	case fyne.KeyDown:
		cur++
	case fyne.KeyUp:
		cur--
	case fyne.KeyPageDown:
		cur += page
	case fyne.KeyPageUp:
		cur -= page
	case fyne.KeyHome:
		cur = 0
	case fyne.KeyEnd:
		cur = n - 1
	default:
		return false
	}
	cur = max(0, min(cur, n-1))
	v.List.Select(cur)
	v.List.ScrollTo(cur)
	return true
}

func (v *ArchiveView) signal() {
	select {
	case v.done <- struct{}{}:
	default:
	}
}

// load fetches a page of the folder or of the search in the background.
func (v *ArchiveView) load(w *Window, offset int) {
	if v.loading || (v.query == "" && (v.account == "" || v.folder == "" && v.label == "")) {
		return
	}
	v.loading = true
	query, account, folder, label := v.query, v.account, v.folder, v.label
	v.Status.SetText("Loading…")
	w.tasks.Go(func() {
		var rows []index.Row
		var total int
		var err error
		switch {
		case query != "":
			rows, total, err = w.eng.Search(query, 200)
		case label != "":
			rows, total, err = w.eng.LabelMessages(account, label, offset, v.pageSize)
		default:
			rows, total, err = w.eng.Messages(account, folder, offset, v.pageSize)
		}
		fyne.Do(func() {
			v.loading = false
			defer v.signal()
			if err != nil {
				v.Status.SetText("The archive index could not be read: " + err.Error())
				return
			}
			if offset == 0 {
				v.rows = rows
				v.List.UnselectAll() // a new list: the old selection means nothing
				v.selected = -1
				v.Reader.SetText("Choose a message.")
			} else {
				v.rows = append(v.rows, rows...)
			}
			v.total = total
			switch {
			case query != "":
				v.Status.SetText(fmt.Sprintf("%d messages match %q (showing %d)", total, query, len(v.rows)))
			case label != "":
				v.Status.SetText(fmt.Sprintf("%d messages labelled %s", total, engine.LabelName(label)))
			default:
				v.Status.SetText(fmt.Sprintf("%d messages in %s", total, folder))
			}
			v.List.Refresh()
		})
	})
}
