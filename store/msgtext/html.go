package msgtext

import (
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/html"
)

// htmlToText converts an HTML part (already UTF-8) into readable plain
// text: paragraphs and line breaks where the blocks are, lists with bullets
// or numbers, quotes with "> ", links as "text <url>", images by their alt
// text, and nothing of scripts, styles, the title or what the sender hid
// (display:none preview text). Entities are decoded by the tokenizer.
func htmlToText(s string) string {
	w := &htmlWriter{lineStart: true}
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			w.closeLink()
			return tidy(w.out.String(), 1)
		case html.TextToken:
			if w.skip == "" {
				w.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			var attrs map[string]string
			if hasAttr {
				attrs = map[string]string{}
				for {
					k, v, more := z.TagAttr()
					if _, dup := attrs[string(k)]; !dup {
						attrs[string(k)] = string(v)
					}
					if !more {
						break
					}
				}
			}
			w.start(string(name), attrs, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			w.end(string(name))
		}
	}
}

type htmlWriter struct {
	out       strings.Builder
	lineStart bool // at the start of a line (or of the text)
	breaks    int  // line breaks owed before the next text (0..2)
	space     bool // a space owed before the next text
	quote     int  // blockquote depth
	lastQuote int  // blockquote depth of the last text written
	pre       int  // <pre> depth
	lists     []list
	bullet    string // owed at the start of the next line
	link      *link

	skip      string // the element being skipped, with its nesting
	skipDepth int
}

type list struct {
	ordered bool
	n       int
}

type link struct {
	href  string
	start int // out.Len() when it opened
}

// Elements whose content is never shown.
var skipped = map[string]bool{
	"script": true, "style": true, "title": true, "template": true, "noscript": true,
	"iframe": true, "object": true, "svg": true, "math": true, "xml": true, "select": true,
	"textarea": true, "audio": true, "video": true, "canvas": true, "noembed": true, "noframes": true,
}

// Elements that end a line, and those that make a paragraph.
var (
	lineBlocks = map[string]bool{
		"div": true, "tr": true, "dt": true, "dd": true, "dl": true, "section": true, "article": true,
		"header": true, "footer": true, "nav": true, "aside": true, "main": true, "address": true,
		"center": true, "form": true, "fieldset": true, "figure": true, "figcaption": true,
		"details": true, "summary": true, "table": true, "caption": true, "legend": true, "body": true,
	}
	paraBlocks = map[string]bool{
		"p": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
		"blockquote": true, "pre": true, "hr": true,
	}
	void = map[string]bool{
		"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
		"input": true, "link": true, "meta": true, "param": true, "source": true, "track": true, "wbr": true,
	}
)

func (w *htmlWriter) start(name string, attrs map[string]string, selfClosing bool) {
	if w.skip != "" {
		if name == w.skip {
			w.skipDepth++
		}
		return
	}
	if skipped[name] || hidden(attrs) {
		if !void[name] && !selfClosing {
			w.skip, w.skipDepth = name, 1
		}
		return
	}
	switch {
	case name == "br":
		w.lineBreak()
	case name == "li":
		w.block(1)
		if n := len(w.lists); n > 0 {
			l := &w.lists[n-1]
			l.n++
			if l.ordered {
				w.bullet = strconv.Itoa(l.n) + ". "
			} else {
				w.bullet = "• "
			}
		} else {
			w.bullet = "• "
		}
	case name == "ul" || name == "ol":
		if len(w.lists) == 0 {
			w.block(2)
		} else {
			w.block(1)
		}
		l := list{ordered: name == "ol"}
		if v, err := strconv.Atoi(attrs["start"]); err == nil && l.ordered {
			l.n = v - 1
		}
		w.lists = append(w.lists, l)
	case name == "td" || name == "th":
		if !w.lineStart {
			w.space = true
		}
	case name == "a":
		w.closeLink()
		if href := strings.TrimSpace(attrs["href"]); href != "" {
			w.link = &link{href: href, start: w.out.Len()}
		}
	case name == "img":
		if alt := strings.TrimSpace(attrs["alt"]); alt != "" {
			w.text("[" + alt + "]")
		}
	case name == "blockquote":
		w.block(2)
		w.quote++
	case name == "pre":
		w.block(2)
		w.pre++
	case paraBlocks[name]:
		w.block(2)
	case lineBlocks[name]:
		w.block(1)
	}
}

func (w *htmlWriter) end(name string) {
	if w.skip != "" {
		if name == w.skip {
			w.skipDepth--
			if w.skipDepth == 0 {
				w.skip = ""
			}
		}
		return
	}
	switch {
	case name == "a":
		w.closeLink()
	case name == "ul" || name == "ol":
		if n := len(w.lists); n > 0 {
			w.lists = w.lists[:n-1]
		}
		if len(w.lists) == 0 {
			w.block(2)
		} else {
			w.block(1)
		}
	case name == "li":
		w.block(1)
		w.bullet = ""
	case name == "td" || name == "th":
		w.space = true
	case name == "blockquote":
		w.block(2)
		if w.quote > 0 {
			w.quote--
		}
	case name == "pre":
		w.block(2)
		if w.pre > 0 {
			w.pre--
		}
	case paraBlocks[name]:
		w.block(2)
	case lineBlocks[name]:
		w.block(1)
	}
}

// hidden reports an element its sender hid: preview text and the like.
func hidden(attrs map[string]string) bool {
	if attrs == nil {
		return false
	}
	if _, ok := attrs["hidden"]; ok {
		return true
	}
	style := strings.ToLower(strings.Join(strings.Fields(attrs["style"]), ""))
	return strings.Contains(style, "display:none") || strings.Contains(style, "mso-hide:all") ||
		strings.Contains(style, "visibility:hidden")
}

// block asks for n line breaks (1: a new line, 2: a new paragraph) before
// the next text.
func (w *htmlWriter) block(n int) {
	w.breaks = max(w.breaks, n)
	w.space = false
}

func (w *htmlWriter) lineBreak() {
	w.breaks = min(w.breaks+1, 2)
	w.space = false
}

// text writes a text token: outside <pre>, runs of white space are one space.
func (w *htmlWriter) text(s string) {
	s = strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, s)
	if w.pre > 0 {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
		for i, line := range strings.Split(s, "\n") {
			if i > 0 {
				w.breaks = min(w.breaks+1, 2)
			}
			if line != "" {
				w.flush()
				w.out.WriteString(strings.ReplaceAll(line, "\u00a0", " "))
				w.lineStart = false
			}
		}
		return
	}
	words := strings.Fields(s)
	if len(words) == 0 {
		if s != "" && !w.lineStart {
			w.space = true
		}
		return
	}
	if startsWithSpace(s) && !w.lineStart {
		w.space = true
	}
	for i, word := range words {
		if i > 0 {
			w.space = true
		}
		w.flush()
		w.out.WriteString(word)
		w.lineStart = false
	}
	if endsWithSpace(s) {
		w.space = true
	}
}

// flush writes the line breaks, prefixes and space owed before a text.
func (w *htmlWriter) flush() {
	if w.breaks > 0 {
		if w.out.Len() > 0 {
			for i := 0; i < w.breaks; i++ {
				if q := min(w.quote, w.lastQuote); i > 0 && q > 0 {
					w.out.WriteString(strings.Repeat(">", q)) // an empty line inside a quote
				}
				w.out.WriteByte('\n')
			}
		}
		w.breaks, w.lineStart, w.space = 0, true, false
	}
	w.lastQuote = w.quote
	if w.lineStart {
		if w.quote > 0 {
			w.out.WriteString(strings.Repeat(">", w.quote) + " ")
		}
		if n := len(w.lists); n > 0 {
			w.out.WriteString(strings.Repeat("  ", n-1))
			if w.bullet != "" {
				w.out.WriteString(w.bullet)
			} else {
				w.out.WriteString("  ")
			}
		} else if w.bullet != "" {
			w.out.WriteString(w.bullet)
		}
		w.bullet = ""
		w.space = false
		return
	}
	if w.space {
		w.out.WriteByte(' ')
		w.space = false
	}
}

// closeLink ends the open link: when its text does not already say where it
// goes, the address follows in angle brackets.
func (w *htmlWriter) closeLink() {
	l := w.link
	if l == nil {
		return
	}
	w.link = nil
	if l.start > w.out.Len() {
		return
	}
	text := strings.TrimSpace(w.out.String()[l.start:])
	target, ok := linkTarget(l.href)
	if !ok || text == "" || sameURL(text, target) {
		return
	}
	space := w.space
	w.space = true
	w.flush()
	w.out.WriteString("<" + target + ">")
	w.lineStart = false
	w.space = space
}

// linkTarget is what to show of a link's address: web and FTP addresses as
// they are, mail addresses without "mailto:"; nothing for anchors within
// the page, scripts and the like.
func linkTarget(href string) (string, bool) {
	lower := strings.ToLower(href)
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"), strings.HasPrefix(lower, "ftp://"):
		return strings.Join(strings.Fields(href), "%20"), true
	case strings.HasPrefix(lower, "mailto:"):
		addr := href[len("mailto:"):]
		if i := strings.IndexByte(addr, '?'); i >= 0 {
			addr = addr[:i]
		}
		addr = strings.TrimSpace(percentDecode(addr))
		return addr, addr != ""
	case strings.HasPrefix(lower, "tel:"):
		return strings.TrimSpace(href[len("tel:"):]), true
	}
	return "", false
}

// sameURL reports whether a link's text is its address, give or take the
// scheme, "www." and a final slash.
func sameURL(text, target string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		for _, p := range []string{"https://", "http://", "mailto:", "www."} {
			s = strings.TrimPrefix(s, p)
		}
		return strings.TrimRight(s, "/")
	}
	return norm(text) == norm(target)
}

// startsWithSpace and endsWithSpace agree with strings.Fields on what
// white space is (unicode.IsSpace, which takes in the no-break space).
func startsWithSpace(s string) bool {
	return len(strings.TrimLeftFunc(s, unicode.IsSpace)) < len(s)
}

func endsWithSpace(s string) bool {
	return len(strings.TrimRightFunc(s, unicode.IsSpace)) < len(s)
}
