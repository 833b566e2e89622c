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

// systemLabels are Gmail's system labels by the names a Takeout export (and
// Gmail's web page) gives them; Gmail keeps these names from user labels.
var systemLabels = map[string]string{
	"inbox": `\Inbox`, "sent": `\Sent`, "drafts": `\Draft`, "starred": `\Starred`,
	"important": `\Important`, "trash": `\Trash`, "spam": `\Spam`,
}

// CanonicalLabel is a label as IMAP's X-GM-LABELS names it: a Takeout's
// "Inbox" is \Inbox, so that mail imported from a Takeout and mail backed
// up over IMAP are listed under one label.
func CanonicalLabel(l string) string {
	if c, ok := systemLabels[strings.ToLower(l)]; ok {
		return c
	}
	return l
}
