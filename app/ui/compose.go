package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
)

// ComposeView writes a message and sends it through the failover engine.
type ComposeView struct {
	root            fyne.CanvasObject
	From            *widget.Select
	To, Cc, Subject *widget.Entry
	Body            *widget.Entry
	SendButton      *widget.Button
	Attach          *widget.Button
	AttachList      *widget.Label
	Result          *widget.Label
	attachments     []string
	sent            chan struct{} // signalled after each send (tests)
}

func (w *Window) newCompose() *ComposeView {
	c := &ComposeView{sent: make(chan struct{}, 10)}
	var froms []string
	for _, a := range w.eng.Accounts() {
		if a.CanSend && a.Email != "" {
			froms = append(froms, a.Email)
		}
	}
	c.From = widget.NewSelect(froms, nil)
	if len(froms) > 0 {
		c.From.SetSelected(froms[0])
	}
	c.To, c.Cc, c.Subject = widget.NewEntry(), widget.NewEntry(), widget.NewEntry()
	c.To.SetPlaceHolder("tom@example.org, ann@example.org")
	c.Body = widget.NewMultiLineEntry()
	c.Body.Wrapping = fyne.TextWrapWord
	c.Body.SetMinRowsVisible(10)
	c.Result = widget.NewLabel("Lifeboat sends through your first account that works, and tells you which one it used and why.")
	c.Result.Wrapping = fyne.TextWrapWord
	c.SendButton = widget.NewButtonWithIcon("Send", theme.MailSendIcon(), func() {
		d := engine.Draft{From: c.From.Selected, To: c.To.Text, Cc: c.Cc.Text, Subject: c.Subject.Text, Body: c.Body.Text,
			Attachments: append([]string(nil), c.attachments...)}
		c.SendButton.Disable()
		c.Result.SetText("Sending…")
		w.tasks.Go(func() { // never on the UI goroutine: this talks to servers
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := w.eng.Send(ctx, d)
			fyne.Do(func() {
				c.SendButton.Enable()
				switch {
				case err != nil:
					c.Result.SetText("Not sent: " + err.Error())
				case out.State == outbox.Sent:
					c.Result.SetText(fmt.Sprintf("Sent through %s — %s.", out.Account, out.Why))
					c.To.SetText("")
					c.Cc.SetText("")
					c.Subject.SetText("")
					c.Body.SetText("")
					c.attachments = nil
					c.AttachList.SetText("")
				default:
					c.Result.SetText("Not sent yet, kept safe in the Outbox: " + out.Why)
				}
				w.Refresh()
				select {
				case c.sent <- struct{}{}:
				default:
				}
			})
		})
	})
	c.SendButton.Importance = widget.HighImportance
	c.AttachList = widget.NewLabel("")
	c.AttachList.Truncation = fyne.TextTruncateEllipsis
	c.Attach = widget.NewButtonWithIcon("Attach…", theme.ContentAddIcon(), func() {
		dialog.ShowFileOpen(func(rc fyne.URIReadCloser, err error) {
			if err != nil || rc == nil {
				return
			}
			rc.Close()
			c.AddAttachment(rc.URI().Path())
		}, w.win)
	})
	form := widget.NewForm(
		widget.NewFormItem("From", c.From),
		widget.NewFormItem("To", c.To),
		widget.NewFormItem("Cc", c.Cc),
		widget.NewFormItem("Subject", c.Subject),
	)
	c.root = container.NewBorder(form, container.NewVBox(c.Result, container.NewBorder(nil, nil, container.NewHBox(c.SendButton, c.Attach), nil, c.AttachList)), nil, nil, c.Body)
	return c
}

// AddAttachment adds a file to the message being written.
func (c *ComposeView) AddAttachment(path string) {
	c.attachments = append(c.attachments, path)
	var names []string
	for _, p := range c.attachments {
		names = append(names, filepath.Base(p))
	}
	c.AttachList.SetText("Attached: " + strings.Join(names, ", "))
}
