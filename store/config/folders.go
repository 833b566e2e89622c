package config

import "strings"

// WantsFolder reports whether the folder called name (hierarchy levels
// separated by '/') is backed up: it must match an include pattern (default
// "*") and no exclude pattern. In patterns '*' matches any text, '/' included,
// and '%' matches any text within one level. Matching is case-sensitive,
// except that a first level spelled INBOX in any case is INBOX.
func (a Account) WantsFolder(name string) bool {
	include := a.Include
	if len(include) == 0 {
		include = []string{"*"}
	}
	name = canonInbox(name)
	return matchAny(include, name) && !matchAny(a.Exclude, name)
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if globMatch(canonInbox(p), name) {
			return true
		}
	}
	return false
}

func canonInbox(s string) string {
	first, rest, more := strings.Cut(s, "/")
	if !strings.EqualFold(first, "INBOX") {
		return s
	}
	if more {
		return "INBOX/" + rest
	}
	return "INBOX"
}

// globMatch matches name against pattern in O(len(pattern)·len(name)).
func globMatch(pattern, name string) bool {
	s := []rune(name)
	// m[j] reports whether the pattern read so far matches s[:j].
	m := make([]bool, len(s)+1)
	m[0] = true
	for _, c := range pattern {
		next := make([]bool, len(s)+1)
		for j := range next {
			switch c {
			case '*':
				next[j] = m[j] || (j > 0 && next[j-1])
			case '%':
				next[j] = m[j] || (j > 0 && s[j-1] != '/' && next[j-1])
			default:
				next[j] = j > 0 && m[j-1] && s[j-1] == c
			}
		}
		m = next
	}
	return m[len(s)]
}
