package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// errAt formats "file:line: message", leaving out the line when it is unknown.
func errAt(path string, line int, format string, args ...any) error {
	if path == "" {
		path = "config"
	}
	loc := path
	if line > 0 {
		loc = fmt.Sprintf("%s:%d", path, line)
	}
	return fmt.Errorf("%s: %s", loc, fmt.Sprintf(format, args...))
}

// knownKeys lists the keys each table accepts (kept in step with the struct
// tags; a test checks).
var knownKeys = map[string][]string{
	"":               {"archive_dir", "account", "mass_delete_percent", "mass_delete_min", "failover", "backup_every", "notifications"},
	"account":        {"name", "email", "imap", "include", "exclude", "smtp", "send_as", "oauth2", "canary"},
	"account.canary": {"every", "deadline", "to", "keep_routing"},
	"account.imap":   {"host", "port", "security", "username", "tls_ca_file", "password_command", "auth"},
	"account.smtp":   {"host", "port", "security", "username", "tls_ca_file", "password_command", "auth"},
	"account.oauth2": {"provider", "client_id", "client_secret", "tenant", "auth_url", "token_url", "device_url", "revoke_url", "scopes"},
	"failover": {"order", "from_policy", "probe_interval", "login_interval", "slow_latency", "send_budget", "file_in_sent", "failures_to_down",
		"successes_to_up", "relay_listen", "relay_allow_remote", "recipient_limit"},
}

func isPasswordKey(k string) bool {
	return strings.EqualFold(k, "password") || strings.EqualFold(k, "passwd")
}

func passwordError(path string, line int, where string) error {
	return errAt(path, line, "a password is not allowed %s (its value is not shown): passwords live in the OS keyring (run \"lifeboat accounts add\") or come from password_command; delete this line", where)
}

// where says where keys of table t are: "in [account.imap]" or "at the top level".
func where(t string) string {
	if t == "" {
		return "at the top level"
	}
	return "in [" + t + "]"
}

// checkKeys refuses password keys anywhere and reports the first unknown key.
func checkKeys(path string, md toml.MetaData, ix lineIndex) error {
	for _, k := range md.Keys() {
		if isPasswordKey(k[len(k)-1]) {
			return passwordError(path, ix.first(strings.Join(k, ".")), where(strings.Join(k[:len(k)-1], ".")))
		}
	}
	und := md.Undecoded()
	if len(und) == 0 {
		return nil
	}
	k := und[0]
	key, table := k[len(k)-1], strings.Join(k[:len(k)-1], ".")
	line := ix.first(strings.Join(k, "."))
	valid := knownKeys[table]
	if s := suggest(key, valid); s != "" {
		return errAt(path, line, "unknown key %q %s — did you mean %q?", key, where(table), s)
	}
	if valid == nil {
		return errAt(path, line, "unknown key %q %s; remove it", key, where(table))
	}
	return errAt(path, line, "unknown key %q %s; remove it (valid keys there: %s)", key, where(table), strings.Join(valid, ", "))
}

// suggest returns the candidate closest to key by edit distance, if close.
func suggest(key string, candidates []string) string {
	best, bestD := "", max(2, len(key)/3)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(key), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// passwordAssign finds a line that assigns a password-like key, for use when
// the file does not parse and the parser's message might quote the value.
var passwordAssign = regexp.MustCompile(`(?i)(?:^|[{,.])\s*["']?(?:password|passwd)["']?\s*=`)

// excerpt matches the parser's quotations of the input.
var excerpt = regexp.MustCompile(`"[^"]{2,}"|'[^']{2,}'`)

// harmless reports whether line assigns a known key whose value cannot be a
// secret; parser messages about any other line (a mistyped "pasword = ...",
// say) have their excerpts of the input hidden.
func harmless(line string) bool {
	k, _, ok := strings.Cut(line, "=")
	if !ok {
		return false
	}
	k = keyPath(k)
	k = k[strings.LastIndexByte(k, '.')+1:]
	for _, keys := range knownKeys {
		if k != "password_command" && slices.Contains(keys, k) {
			return true
		}
	}
	return false
}

var typeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// decodeError turns a toml error into one line naming the file and line.
func decodeError(path string, data []byte, err error) error {
	for i, l := range strings.Split(string(data), "\n") {
		if passwordAssign.MatchString(l) {
			return passwordError(path, i+1, "in the config file")
		}
	}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg, n := pe.Message, pe.Position.Line
		if lines := strings.Split(string(data), "\n"); n < 1 || n > len(lines) || !harmless(lines[n-1]) {
			msg = excerpt.ReplaceAllString(msg, "(text hidden)")
		}
		return errAt(path, n, "TOML syntax error: %s; fix the syntax on this line (strings need double quotes: host = \"imap.example.com\")", msg)
	}
	if m := typeErrRE.FindStringSubmatch(err.Error()); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return errAt(path, line, "%s: %s; fix the value's type (text in double quotes, numbers without)", m[2], m[3])
	}
	return errAt(path, 0, "%s; fix the file's TOML", strings.TrimPrefix(err.Error(), "toml: "))
}

// lineIndex maps dotted key paths to the line they are written on. It is a
// best-effort scan used only to put line numbers in messages.
type lineIndex struct {
	any   map[string]int // first line of each path
	inAcc map[string]int // "i/path" -> line, for paths inside the i-th [[account]]
}

func indexLines(data []byte) lineIndex {
	ix := lineIndex{any: map[string]int{}, inAcc: map[string]int{}}
	table, acc, multi := "", -1, ""
	add := func(p string, n int) {
		if _, ok := ix.any[p]; !ok {
			ix.any[p] = n
		}
		k := fmt.Sprintf("%d/%s", acc, p)
		if _, ok := ix.inAcc[k]; !ok && acc >= 0 {
			ix.inAcc[k] = n
		}
	}
	for n, l := range strings.Split(string(data), "\n") {
		n++
		s := strings.TrimSpace(l)
		if multi != "" { // inside a multi-line string
			if strings.Count(s, multi)%2 == 1 {
				multi = ""
			}
			continue
		}
		switch {
		case s == "" || s[0] == '#':
		case strings.HasPrefix(s, "[["):
			name, _, _ := strings.Cut(s[2:], "]]")
			table = keyPath(name)
			if table == "account" {
				acc++
			}
			add(table, n)
		case s[0] == '[':
			name, _, _ := strings.Cut(s[1:], "]")
			table = keyPath(name)
			add(table, n)
		default:
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				continue
			}
			p := keyPath(k)
			if table != "" {
				p = table + "." + p
			}
			add(p, n)
			for _, q := range []string{`"""`, `'''`} {
				if strings.Count(v, q)%2 == 1 {
					multi = q
				}
			}
		}
	}
	return ix
}

func keyPath(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// first is the line of path, or of its nearest written parent, or 0.
func (ix lineIndex) first(path string) int {
	for p := path; p != ""; p = parent(p) {
		if n, ok := ix.any[p]; ok {
			return n
		}
	}
	return 0
}

// line is like first, but for i >= 0 it looks only inside the i-th [[account]].
func (ix lineIndex) line(i int, path string) int {
	if i < 0 {
		return ix.first(path)
	}
	for p := path; p != ""; p = parent(p) {
		if n, ok := ix.inAcc[fmt.Sprintf("%d/%s", i, p)]; ok {
			return n
		}
	}
	return 0
}

func parent(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}
