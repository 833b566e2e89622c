package archive

import (
	"bytes"
	"strings"
)

// MessageID returns the Message-ID header of a message's head, unfolded and
// trimmed, or "" when there is none. The string is a copy of its own: an
// entry that keeps it does not keep the head with it.
func MessageID(head []byte) string {
	if i := bytes.Index(head, []byte("\r\n\r\n")); i >= 0 {
		head = head[:i+2]
	} else if i := bytes.Index(head, []byte("\n\n")); i >= 0 {
		head = head[:i+1]
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	for i, line := range lines {
		if len(line) < 11 || !strings.EqualFold(line[:11], "message-id:") {
			continue
		}
		v := line[11:]
		for j := i + 1; j < len(lines) && len(lines[j]) > 0 && (lines[j][0] == ' ' || lines[j][0] == '\t'); j++ {
			v += lines[j]
		}
		v = strings.TrimSpace(v)
		if len(v) > 998 {
			v = v[:998]
		}
		return strings.Clone(v)
	}
	return ""
}
