package archive

import "strings"

// LabelName is a Gmail label as a person reads it: the system labels by
// the names Gmail shows (\Inbox → Inbox, \Draft → Drafts), a user label as
// it is.
func LabelName(l string) string {
	switch l {
	case `\Inbox`:
		return "Inbox"
	case `\Sent`:
		return "Sent"
	case `\Draft`:
		return "Drafts"
	case `\Starred`:
		return "Starred"
	case `\Important`:
		return "Important"
	case `\Trash`:
		return "Trash"
	case `\Spam`:
		return "Spam"
	}
	return strings.TrimPrefix(l, `\`)
}
