package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/store/index"
)

// ArchiveView browses the archive offline: folders, a virtualized message
// list (fixed row height, so 100,000 rows scroll smoothly) and the message.
type ArchiveView struct {
	root     fyne.CanvasObject
	Account  *widget.Select
	Folders  *widget.List
	List     *widget.List
	Reader   *widget.Label
	Status   *widget.Label
	folders  []string
	rows     []index.Row
	total    int
	account  string
	folder   string
	pageSize int
}

// RowText is the text of one message row.
func RowText(r index.Row) string {
	subj := r.Subject
	if subj == "" {
		subj = "(no subject)"
	}
	s := fmt.Sprintf("%s · %s · %s", r.Date.Local().Format("2 Jan 2006 15:04"), r.From, subj)
	if !r.Gone.IsZero() {
		s += " · deleted on the server, kept here"
	}
	return s
}

func (w *Window) newArchive() *ArchiveView {
	v := &ArchiveView{pageSize: 500}
	var names []string
	for _, a := range w.eng.Accounts() {
		names = append(names, a.Name)
	}
	v.Reader = widget.NewLabel("Choose a message.")
	v.Reader.Wrapping = fyne.TextWrapWord
	v.Status = widget.NewLabel("")
	v.Folders = widget.NewList(
		func() int { return len(v.folders) },
		func() fyne.CanvasObject { return widget.NewLabel("folder") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(v.folders[i]) })
	v.List = widget.NewList(
		func() int { return len(v.rows) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("message")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			if i == len(v.rows)-1 && len(v.rows) < v.total {
				v.load(w, len(v.rows)) // next page when the end comes into view
			}
			o.(*widget.Label).SetText(RowText(v.rows[i]))
		})
	v.List.OnSelected = func(i widget.ListItemID) {
		r := v.rows[i]
		var b strings.Builder
		fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: %s\n", r.From, r.To, r.Subject, r.Date.Local().Format("Mon, 2 Jan 2006 15:04"), r.MessageID)
		if len(r.Flags) > 0 {
			fmt.Fprintf(&b, "Flags: %s\n", strings.Join(r.Flags, " "))
		}
		if !r.Gone.IsZero() {
			fmt.Fprintf(&b, "Deleted on the server %s; kept in the archive.\n", r.Gone.Local().Format("2 Jan 2006 15:04"))
		}
		v.Reader.SetText(b.String())
	}
	v.Folders.OnSelected = func(i widget.ListItemID) {
		v.folder = v.folders[i]
		v.rows = nil
		v.load(w, 0)
	}
	v.Account = widget.NewSelect(names, func(name string) {
		v.account = name
		v.folders = w.eng.Folders(name)
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
			v.folders = w.eng.Folders(v.account)
			v.Folders.Refresh()
		}
	})
	left := container.NewBorder(v.Account, nil, nil, nil, v.Folders)
	right := container.NewVSplit(container.NewBorder(nil, v.Status, nil, nil, v.List), container.NewScroll(v.Reader))
	split := container.NewHSplit(left, right)
	split.Offset = 0.25
	v.root = split
	return v
}

func (v *ArchiveView) load(w *Window, offset int) {
	if v.account == "" || v.folder == "" {
		return
	}
	rows, total, err := w.eng.Messages(v.account, v.folder, offset, v.pageSize)
	if err != nil {
		v.Status.SetText("The archive index could not be read: " + err.Error())
		return
	}
	if offset == 0 {
		v.rows = rows
	} else {
		v.rows = append(v.rows, rows...)
	}
	v.total = total
	v.Status.SetText(fmt.Sprintf("%d messages in %s", total, v.folder))
	v.List.Refresh()
}
