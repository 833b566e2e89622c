package archive

import (
	"fmt"
	"path/filepath"
	"strings"
)

// escapeComponent turns one folder-name component into a file-name
// component that every common file system accepts, reversibly: bytes that
// are unsafe are written as %XX, and so is '%' itself.
func escapeComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		unsafe := c < 0x20 || c == 0x7f || c == '%' || c == '/' || c == '\\' ||
			strings.IndexByte(`:*?"<>|`, c) >= 0 ||
			(i == 0 && c == '.') || // hidden files, "." and ".."
			(i == len(s)-1 && (c == ' ' || c == '.')) // Windows drops these
		if unsafe {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "%" // an empty component still needs a name; never a valid %XX escape
	}
	return b.String()
}

func unescapeComponent(s string) (string, error) {
	if s == "%" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		var c byte
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &c); err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), nil
}

// relPath is the path, relative to an account's directory and without
// extension, that holds a folder given by its name components.
func relPath(components []string) string {
	parts := make([]string, len(components))
	for i, c := range components {
		parts[i] = escapeComponent(c)
	}
	return filepath.Join(parts...)
}

// componentsOf inverts relPath.
func componentsOf(rel string) ([]string, error) {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for i, p := range parts {
		c, err := unescapeComponent(p)
		if err != nil {
			return nil, err
		}
		parts[i] = c
	}
	return parts, nil
}
