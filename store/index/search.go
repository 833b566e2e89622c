package index

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Query is a search. Text, From, To and Subject are search expressions:
// words and "quoted phrases", all of which must match (a word matches a
// whole word, case and accents aside: "cafe" finds "Café"); word* matches
// words that start with word; -word and -"phrase" exclude; OR between two
// terms takes either. Text matches the subject, the addresses, the body
// text and the attachments' names; From, To and Subject match their header
// only (To takes in Cc). An address is words too: from:alice@example.org
// finds the phrase "alice example org".
//
// Account is an account name; Folder a folder path (case aside), with its
// subfolders. After and Before bound the date (INTERNALDATE): After is
// inclusive, Before exclusive. HasAttachment, when set, keeps the messages
// with (true) or without (false) attachments. A zero field does not
// filter; a Query that filters nothing finds every message.
//
// Limit and Offset page the results (Limit <= 0: all of them).
type Query struct {
	Text              string
	From, To, Subject string
	Account, Folder   string
	After, Before     time.Time
	HasAttachment     *bool
	Limit, Offset     int
}

// ParseQuery reads what a person types in a search box: words and "quoted
// phrases", and the filters
//
//	from:alice  to:bob  cc:bob  subject:invoice  subject:"two words"
//	has:attachment  -has:attachment
//	after:2026-01-01  before:2026-01-31  (dates in local time; also 2026/01/31)
//	folder:INBOX  in:Work/2026  account:personal
//
// -word, -"phrase", -from:x (and -to:, -subject:) exclude; OR between two
// terms takes either; word* is a prefix. after: is inclusive and before:
// exclusive, so "after:2026-01-05 before:2026-01-06" is one day. A prefix
// it does not know (re:, http:) is part of a plain word. An error says
// what is wrong with a date or a filter that cannot be negated.
func ParseQuery(s string) (Query, error) {
	var q Query
	var text, from, to, subject []string
	for _, t := range lex(s) {
		if t.or {
			text = append(text, "OR")
			continue
		}
		name, value, quoted := filterOf(t)
		if name == "" {
			text = append(text, t.term())
			continue
		}
		if value == "" && !quoted {
			continue // "from:" alone
		}
		v := term{value: value, quoted: quoted, neg: t.neg, prefix: t.prefix}
		switch name {
		case "from":
			from = append(from, v.term())
		case "to", "cc":
			to = append(to, v.term())
		case "subject":
			subject = append(subject, v.term())
		case "has":
			switch strings.ToLower(value) {
			case "attachment", "attachments", "attach", "file", "files":
				b := !t.neg
				q.HasAttachment = &b
			default:
				text = append(text, t.term())
			}
		case "before", "after":
			if t.neg {
				return q, fmt.Errorf("-%s: cannot be negated; use %s: instead", name, map[string]string{"before": "after", "after": "before"}[name])
			}
			d, err := parseDate(value)
			if err != nil {
				return q, fmt.Errorf("%s:%s: %v", name, value, err)
			}
			if name == "before" {
				q.Before = d
			} else {
				q.After = d
			}
		case "folder", "in", "account":
			if t.neg {
				return q, fmt.Errorf("-%s: cannot be negated", name)
			}
			if name == "account" {
				q.Account = value
			} else {
				q.Folder = value
			}
		}
	}
	q.Text, q.From, q.To, q.Subject = strings.Join(text, " "), strings.Join(from, " "), strings.Join(to, " "), strings.Join(subject, " ")
	return q, nil
}

// filterOf returns the filter a term is (name:value or name:"value"), or
// "" when it is a plain term.
func filterOf(t term) (name, value string, quoted bool) {
	if t.quoted {
		return "", "", false
	}
	i := strings.IndexByte(t.value, ':')
	if i <= 0 || !filters[strings.ToLower(t.value[:i])] {
		return "", "", false
	}
	name = strings.ToLower(t.value[:i])
	if t.valueQuoted {
		return name, t.quotedValue, true
	}
	return name, t.value[i+1:], false
}

var filters = map[string]bool{"from": true, "to": true, "cc": true, "subject": true, "has": true,
	"before": true, "after": true, "folder": true, "in": true, "account": true}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "2006/01/02", "2006-1-2", "2006/1/2", "2006.01.02", "2006.1.2"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date; write it as 2026-01-31")
}

// term is one term of a search expression.
type term struct {
	value       string
	quoted      bool // a "phrase"
	neg, prefix bool // -term, term*
	or          bool // the OR operator, not a term
	// name:"value": the quoted value after the colon
	valueQuoted bool
	quotedValue string
}

// term writes the term back in the syntax lex reads.
func (t term) term() string {
	s := t.value
	if t.valueQuoted {
		s += `"` + t.quotedValue + `"`
	} else if t.quoted {
		s = `"` + strings.ReplaceAll(s, `"`, "") + `"`
	}
	if t.prefix {
		s += "*"
	}
	if t.neg {
		s = "-" + s
	}
	return s
}

// lex splits a search expression into terms. It never fails: an
// unterminated quote runs to the end.
func lex(s string) []term {
	var out []term
	for i := 0; i < len(s); {
		if r, n := utf8.DecodeRuneInString(s[i:]); unicode.IsSpace(r) {
			i += n
			continue
		}
		var t term
		if s[i] == '-' && i+1 < len(s) && s[i+1] != '-' && !unicode.IsSpace(rune(s[i+1])) {
			t.neg = true
			i++
		}
		if s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				t.value, i = s[i+1:], len(s)
			} else {
				t.value, i = s[i+1:i+1+end], i+2+end
			}
			t.quoted = true
		} else {
			j := i
			for j < len(s) && s[j] != '"' {
				r, n := utf8.DecodeRuneInString(s[j:])
				if unicode.IsSpace(r) {
					break
				}
				j += n
			}
			t.value, i = s[i:j], j
			if strings.HasSuffix(t.value, ":") && i < len(s) && s[i] == '"' { // name:"value"
				end := strings.IndexByte(s[i+1:], '"')
				if end < 0 {
					t.quotedValue, i = s[i+1:], len(s)
				} else {
					t.quotedValue, i = s[i+1:i+1+end], i+2+end
				}
				t.valueQuoted = true
			}
		}
		if i < len(s) && s[i] == '*' && (t.quoted || t.valueQuoted) {
			t.prefix = true
			i++
		}
		if !t.quoted && !t.valueQuoted && strings.HasSuffix(t.value, "*") {
			t.value = strings.TrimRight(t.value, "*")
			t.prefix = true
		}
		if t.value == "OR" && !t.quoted && !t.neg && !t.prefix && !t.valueQuoted {
			t.or = true
		}
		out = append(out, t)
	}
	return out
}

// ftsExpr turns a search expression into FTS5 query syntax: the terms that
// must match (AND of OR-groups), and the ones that must not (OR), each
// limited to columns when columns is not "". Terms without a letter or
// digit (FTS would find no word in them) are dropped.
func ftsExpr(s, columns string) (pos, neg []string) {
	var groups [][]string
	orNext := false
	for _, t := range lex(s) {
		if t.or {
			orNext = len(groups) > 0
			continue
		}
		v := t.value
		if t.valueQuoted {
			v += " " + t.quotedValue
		}
		if !hasWord(v) {
			orNext = false
			continue
		}
		p := `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
		if t.prefix {
			p += "*"
		}
		if columns != "" {
			p = "{" + columns + "} : " + p
		}
		switch {
		case t.neg:
			neg = append(neg, p)
		case orNext:
			groups[len(groups)-1] = append(groups[len(groups)-1], p)
		default:
			groups = append(groups, []string{p})
		}
		orNext = false
	}
	for _, g := range groups {
		if len(g) == 1 {
			pos = append(pos, g[0])
		} else {
			pos = append(pos, "("+strings.Join(g, " OR ")+")")
		}
	}
	return pos, neg
}

// hasWord reports whether the FTS tokenizer (unicode61: letters, digits
// and private-use characters) finds a word in s.
func hasWord(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r) {
			return true
		}
	}
	return false
}

// match builds the MATCH expressions of q: what must match and what must
// not ("" for none).
func (q Query) match() (pos, neg string) {
	var p, n []string
	for _, f := range []struct{ expr, cols string }{
		{q.Text, ""}, {q.From, "from_addr"}, {q.To, "to_addr"}, {q.Subject, "subject"},
	} {
		a, b := ftsExpr(f.expr, f.cols)
		p, n = append(p, a...), append(n, b...)
	}
	return strings.Join(p, " AND "), strings.Join(n, " OR ")
}

// Search finds the messages that match q, newest first (by INTERNALDATE;
// messages without a date last), and returns the page that q asks for and
// the number of all matches. A message is found by its text once that is
// indexed (see the package comment), by the other filters at once;
// messages deleted on the server are found like the others (Row.Gone).
func (ix *Index) Search(q Query) ([]Row, int, error) {
	var where []string
	var args []any
	pos, neg := q.match()
	if pos != "" {
		where = append(where, `m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)`)
		args = append(args, pos)
	}
	if neg != "" {
		where = append(where, `m.id NOT IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)`)
		args = append(args, neg)
	}
	if q.Account != "" || q.Folder != "" {
		var fw []string
		var fargs []any
		if q.Account != "" {
			fw, fargs = append(fw, `account = ?`), append(fargs, q.Account)
		}
		if q.Folder != "" {
			folder := strings.Trim(q.Folder, "/")
			fw = append(fw, `(path = ? COLLATE NOCASE OR path LIKE ? ESCAPE '\')`)
			fargs = append(fargs, folder, escapeLike(folder)+"/%")
		}
		where = append(where, `m.folder IN (SELECT id FROM folders WHERE `+strings.Join(fw, " AND ")+`)`)
		args = append(args, fargs...)
	}
	if !q.After.IsZero() {
		where, args = append(where, `m.date >= ?`), append(args, q.After.Unix())
	}
	if !q.Before.IsZero() {
		where, args = append(where, `m.date < ?`), append(args, q.Before.Unix())
	}
	if q.HasAttachment != nil {
		where, args = append(where, `m.has_attachment = ?`), append(args, *q.HasAttachment)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}

	// The total: from the full-text index alone when nothing else filters
	// (its rows are the messages' rows), else over the messages.
	var total int
	countQuery, countArgs := `SELECT count(*) FROM messages m`+cond, args
	if pos != "" && len(where) == 1 {
		countQuery, countArgs = `SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?`, []any{pos}
	}
	if err := ix.db.QueryRow(countQuery, countArgs...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("search: %w", err)
	}
	offset := max(q.Offset, 0)
	if total == 0 || offset >= total {
		return nil, total, nil
	}
	limit, want := q.Limit, q.Limit+offset
	if limit <= 0 {
		limit, want = -1, total
	}

	// The page. Few matches are fetched by id and sorted; when there are
	// many, walking all messages newest first and keeping the matches
	// reaches a page sooner: after about want*all/total messages, against
	// sorting total. (SQLite cannot know total beforehand; this does.)
	var all int
	if err := ix.db.QueryRow(`SELECT COALESCE(SUM(messages), 0) FROM folders`).Scan(&all); err != nil {
		return nil, 0, fmt.Errorf("search: %w", err)
	}
	from := rowCols
	if float64(total)*float64(total) > float64(want)*float64(all) {
		from = rowColsUsing("INDEXED BY messages_by_newest")
	}
	rows, err := ix.db.Query(from+cond+` ORDER BY m.date DESC, m.folder, m.off DESC LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("search: %w", err)
	}
	out, err := scanRows(rows)
	return out, total, err
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
