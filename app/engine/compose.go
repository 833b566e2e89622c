package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

// buildMessage turns a draft into an RFC 5322 message (text/plain, UTF-8,
// attachments as multipart/mixed).
func buildMessage(d Draft) ([]byte, error) {
	from, err := netmail.ParseAddress(d.From)
	if err != nil {
		return nil, fmt.Errorf("the From address %q is not valid", d.From)
	}
	parse := func(field, s string) ([]*mail.Address, error) {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		list, err := netmail.ParseAddressList(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a list of addresses (separate them with commas)", field, s)
		}
		var out []*mail.Address
		for _, a := range list {
			out = append(out, (*mail.Address)(a))
		}
		return out, nil
	}
	to, err := parse("To", d.To)
	if err != nil {
		return nil, err
	}
	cc, err := parse("Cc", d.Cc)
	if err != nil {
		return nil, err
	}
	if len(to)+len(cc) == 0 {
		return nil, errors.New("add at least one recipient in To or Cc")
	}
	var h mail.Header
	h.SetDate(time.Now())
	h.SetAddressList("From", []*mail.Address{(*mail.Address)(from)})
	h.SetAddressList("To", to)
	if len(cc) > 0 {
		h.SetAddressList("Cc", cc)
	}
	h.SetSubject(d.Subject)
	var buf bytes.Buffer
	body := strings.ReplaceAll(d.Body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	if len(d.Attachments) == 0 {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w, err := mail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, err
		}
		io.WriteString(w, body)
		w.Close()
		return buf.Bytes(), nil
	}
	mw, err := mail.CreateWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	var th mail.InlineHeader
	th.Set("Content-Type", "text/plain; charset=utf-8")
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return nil, err
	}
	io.WriteString(tw, body)
	tw.Close()
	for _, path := range d.Attachments {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot attach %s: %v", filepath.Base(path), err)
		}
		var ah mail.AttachmentHeader
		ct := mime.TypeByExtension(filepath.Ext(path))
		if ct == "" {
			ct = "application/octet-stream"
		}
		ah.Set("Content-Type", ct)
		ah.SetFilename(filepath.Base(path))
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return nil, err
		}
		aw.Write(data)
		aw.Close()
	}
	mw.Close()
	return buf.Bytes(), nil
}
