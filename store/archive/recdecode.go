package archive

import (
	"encoding/json"
	"strconv"
)

// decodeRecord reads one metadata log line into rec, as json.Unmarshal
// does. Every run reads the whole log of each folder it opens, so the lines
// Lifeboat writes — flat objects of numbers, booleans, ASCII strings (with
// the escapes a flag such as \Seen needs) and arrays of those — are read
// by hand; anything else (other escapes, non-ASCII, the nested "alts", an
// unknown key, a number that does not fit, bad JSON) goes to encoding/json,
// which then decides, errors included.
func decodeRecord(line []byte, rec *record) error {
	if fastRecord(line, rec) {
		return nil
	}
	*rec = record{}
	return json.Unmarshal(line, rec)
}

type scanner struct {
	b       []byte
	i       int
	scratch []byte // the last unescaped string with escapes, reused
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// raw reads a string without escapes, control characters or non-ASCII
// bytes (escapes, and UTF-8 that json would check: the slow path), and
// returns its bytes in place.
func (s *scanner) raw() ([]byte, bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

func (s *scanner) str() (string, bool) {
	b, ok := s.unescaped()
	if !ok {
		return "", false
	}
	// The flags and labels nearly every message has: one string for all.
	switch string(b) {
	case `\Seen`:
		return `\Seen`, true
	case `\Answered`:
		return `\Answered`, true
	case `\Flagged`:
		return `\Flagged`, true
	case `\Draft`:
		return `\Draft`, true
	case `\Deleted`:
		return `\Deleted`, true
	case "$Forwarded":
		return "$Forwarded", true
	case `\Inbox`:
		return `\Inbox`, true
	case `\Sent`:
		return `\Sent`, true
	case `\Important`:
		return `\Important`, true
	case `\Starred`:
		return `\Starred`, true
	}
	return string(b), true
}

// unescaped reads an ASCII string whose only escapes are \\, \" and \/
// (every flag such as \Seen is written with one); json's other escapes,
// \u among them, and non-ASCII bytes are left to the slow path. The bytes
// are in place, or in s.scratch when there were escapes.
func (s *scanner) unescaped() ([]byte, bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	var out []byte // nil while no escape was seen
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			if out == nil {
				return s.b[start:j], true
			}
			s.scratch = out[:0]
			return out, true
		case c == '\\':
			if j+1 >= len(s.b) {
				return nil, false
			}
			e := s.b[j+1]
			if e != '\\' && e != '"' && e != '/' {
				return nil, false
			}
			if out == nil {
				out = append(s.scratch[:0], s.b[start:j]...)
			}
			out = append(out, e)
			j++
		case c < 0x20 || c >= 0x80:
			return nil, false
		default:
			if out != nil {
				out = append(out, c)
			}
		}
	}
	return nil, false
}

// num reads a JSON integer.
func (s *scanner) num() (int64, bool) {
	s.space()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == start || (s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E')) {
		return 0, false
	}
	digits := s.b[start:s.i]
	if len(digits) > 1 && digits[0] == '0' || len(digits) > 2 && digits[0] == '-' && digits[1] == '0' {
		return 0, false // leading zeros: not JSON
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	return n, err == nil
}

func (s *scanner) boolean() (bool, bool) {
	s.space()
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		s.i += 4
		return true, true
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}

func (s *scanner) uint32() (uint32, bool) {
	n, ok := s.num()
	return uint32(n), ok && n >= 0 && n <= 1<<32-1
}

func (s *scanner) int() (int, bool) {
	n, ok := s.num()
	return int(n), ok && int64(int(n)) == n
}

// list reads a JSON array whose items item reads.
func list[T any](s *scanner, item func() (T, bool)) ([]T, bool) {
	if !s.eat('[') {
		return nil, false
	}
	out := []T{}
	if s.eat(']') {
		return out, true
	}
	for {
		v, ok := item()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if s.eat(']') {
			return out, true
		}
		if !s.eat(',') {
			return nil, false
		}
	}
}

// fastRecord decodes line into a zeroed rec, or reports false (rec is then
// in any state) for anything it does not read exactly as encoding/json.
func fastRecord(line []byte, rec *record) bool {
	*rec = record{}
	s := &scanner{b: line}
	if !s.eat('{') {
		return false
	}
	var seen uint64
	if !s.eat('}') {
		for {
			key, ok := s.raw()
			if !ok || !s.eat(':') {
				return false
			}
			bit := fieldBit(key)
			if bit == 0 || seen&bit != 0 {
				return false // unknown ("alts", another case), or repeated (json's last-wins): left to json
			}
			seen |= bit
			if s.eat('n') { // null: json leaves the field alone
				if len(s.b)-s.i < 3 || string(s.b[s.i:s.i+3]) != "ull" {
					return false
				}
				s.i += 3
			} else if !fastField(s, key, rec) {
				return false
			}
			if s.eat('}') {
				break
			}
			if !s.eat(',') {
				return false
			}
		}
	}
	s.space()
	return s.i == len(s.b)
}

// fields are the keys the fast path reads, each with its bit in fieldBit.
var fields = []string{"t", "uv", "uid", "off", "len", "ends", "sha", "date", "size", "flags", "labels", "setflags",
	"mid", "eol", "nonl", "trail", "rec", "why", "cut", "end", "at", "name", "delim", "local", "uidnext", "modseq",
	"count", "old", "use", "gm", "thr"}

// fieldBit is a key's bit (0: not one the fast path reads).
func fieldBit(key []byte) uint64 {
	for i, f := range fields {
		if string(key) == f {
			return 1 << i
		}
	}
	return 0
}

func fastField(s *scanner, key []byte, rec *record) (ok bool) {
	switch string(key) {
	case "t":
		rec.T, ok = s.str()
	case "uv":
		rec.UV, ok = s.uint32()
	case "uid":
		rec.UID, ok = s.uint32()
	case "off":
		var n int64
		n, ok = s.num()
		rec.Off = &n
	case "len":
		rec.Len, ok = s.num()
	case "ends":
		rec.Ends, ok = list(s, s.num)
	case "sha":
		rec.SHA, ok = s.str()
	case "date":
		rec.Date, ok = s.str()
	case "size":
		rec.Size, ok = s.num()
	case "flags":
		rec.Flags, ok = list(s, s.str)
	case "labels":
		rec.Labels, ok = list(s, s.str)
	case "setflags":
		rec.SetFlags, ok = s.boolean()
	case "mid":
		rec.MID, ok = s.str()
	case "eol":
		rec.EOL, ok = s.str()
	case "nonl":
		rec.NoNL, ok = s.boolean()
	case "trail":
		var n int
		n, ok = s.int()
		rec.Trail = &n
	case "rec":
		rec.Rec, ok = s.boolean()
	case "why":
		rec.Why, ok = s.str()
	case "cut":
		var n int64
		n, ok = s.num()
		rec.Cut = &n
	case "end":
		rec.End, ok = s.num()
	case "at":
		rec.At, ok = s.num()
	case "name":
		rec.Name, ok = s.str()
	case "delim":
		rec.Delim, ok = s.str()
	case "local":
		rec.Local, ok = s.boolean()
	case "uidnext":
		rec.UIDNext, ok = s.uint32()
	case "modseq":
		var n int64
		n, ok = s.num()
		rec.ModSeq = uint64(n)
		ok = ok && n >= 0
	case "count":
		rec.Count, ok = s.uint32()
	case "old":
		rec.Old, ok = s.uint32()
	case "use":
		rec.Use, ok = s.str()
	case "gm", "thr":
		var n int64
		n, ok = s.num()
		ok = ok && n >= 0
		if key[0] == 'g' {
			rec.GM = uint64(n)
		} else {
			rec.Thr = uint64(n)
		}
	}
	return ok // "alts" and unknown keys: false, the slow path
}
