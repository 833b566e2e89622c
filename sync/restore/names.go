package restore

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// target is what the target server says about its folders.
type target struct {
	prefix string // personal namespace prefix ("INBOX." on Cyrus-like servers)
	delim  rune   // hierarchy separator (0: flat)
	// byRole is the target's folder for each SPECIAL-USE attribute.
	byRole map[string]string
	exists map[string]bool // folder names as listed (INBOX upper-cased)
}

func newTarget(list []*imap.ListData, prefix string, delim rune) *target {
	t := &target{prefix: prefix, delim: delim, byRole: map[string]string{}, exists: map[string]bool{}}
	for _, l := range list {
		name := l.Mailbox
		if strings.EqualFold(name, "INBOX") {
			name = "INBOX"
		}
		if !imapconn.HasAttr(l.Attrs, imap.MailboxAttrNoSelect) && !imapconn.HasAttr(l.Attrs, imap.MailboxAttrNonExistent) {
			t.exists[name] = true
		}
		for _, r := range roles {
			if imapconn.HasAttr(l.Attrs, imap.MailboxAttr(r)) {
				if _, ok := t.byRole[r]; !ok {
					t.byRole[r] = name
				}
			}
		}
	}
	return t
}

// roles are the SPECIAL-USE attributes a restore maps (RFC 6154). \All and
// \Flagged are views of other folders and are not targets.
var roles = []string{`\Sent`, `\Drafts`, `\Trash`, `\Junk`, `\Archive`}

// nameRoles guesses the role of a folder archived before Lifeboat recorded
// roles, from the names providers and clients give them.
var nameRoles = map[string]string{
	"sent": `\Sent`, "sent items": `\Sent`, "sent messages": `\Sent`, "sent mail": `\Sent`,
	"gesendet": `\Sent`, "gesendete elemente": `\Sent`, "envoyés": `\Sent`, "éléments envoyés": `\Sent`,
	"elementos enviados": `\Sent`, "enviados": `\Sent`, "posta inviata": `\Sent`, "verzonden items": `\Sent`,
	"drafts": `\Drafts`, "draft": `\Drafts`, "entwürfe": `\Drafts`, "brouillons": `\Drafts`,
	"borradores": `\Drafts`, "bozze": `\Drafts`, "concepten": `\Drafts`,
	"trash": `\Trash`, "deleted items": `\Trash`, "deleted messages": `\Trash`, "bin": `\Trash`,
	"papierkorb": `\Trash`, "gelöschte elemente": `\Trash`, "corbeille": `\Trash`, "papelera": `\Trash`,
	"cestino": `\Trash`, "prullenbak": `\Trash`,
	"junk": `\Junk`, "spam": `\Junk`, "junk e-mail": `\Junk`, "junk email": `\Junk`, "bulk mail": `\Junk`,
	"archive": `\Archive`, "archives": `\Archive`, "archiv": `\Archive`,
}

// roleOf is the role of an archived folder: the one recorded at backup,
// else guessed from its name (a top-level folder, or one directly under
// Gmail's "[Gmail]"); Lifeboat's own copies of sent mail belong in Sent.
func roleOf(id archive.FolderID, recorded string) string {
	if id.Local {
		if strings.EqualFold(id.Name, "Sent") {
			return `\Sent`
		}
		return ""
	}
	for _, r := range roles {
		if strings.EqualFold(recorded, r) {
			return r
		}
	}
	if recorded != "" {
		return ""
	}
	comps := []string{id.Name}
	if id.Delim != 0 {
		comps = strings.Split(id.Name, string(id.Delim))
	}
	if len(comps) == 2 && (comps[0] == "[Gmail]" || comps[0] == "[Google Mail]") {
		comps = comps[1:]
	}
	if len(comps) != 1 {
		return ""
	}
	return nameRoles[strings.ToLower(comps[0])]
}

// mapped is where an archived folder goes on the target.
type mapped struct {
	name string // the target's folder name
	role string // the role it was mapped by ("" for none)
	note string // what was changed to fit the target, for the report
}

// mapFolder returns where an archived folder goes: INBOX to INBOX, a folder
// with a role to the target's folder of that role, anything else to the
// same path under the target's namespace prefix and separator. With into,
// everything goes under that one parent folder instead, INBOX included.
func (t *target) mapFolder(id archive.FolderID, recordedRole, into string) mapped {
	var comps []string
	if id.Local {
		comps = []string{"Lifeboat", id.Name}
	} else if id.Delim == 0 {
		comps = []string{id.Name}
	} else {
		comps = strings.Split(id.Name, string(id.Delim))
	}
	inbox := !id.Local && len(comps) == 1 && strings.EqualFold(comps[0], "INBOX")
	if into == "" {
		if inbox {
			return mapped{name: "INBOX"}
		}
		if r := roleOf(id, recordedRole); r != "" {
			if name, ok := t.byRole[r]; ok {
				return mapped{name: name, role: r}
			}
			if id.Local {
				comps = []string{"Sent"}
			}
		}
	} else {
		intoComps := splitInto(into, t.delim)
		comps = append(intoComps, comps...)
	}
	var m mapped
	if t.delim != 0 {
		for i, c := range comps {
			if strings.ContainsRune(c, t.delim) {
				comps[i] = strings.ReplaceAll(c, string(t.delim), "_")
				m.note = "“" + string(t.delim) + "” is the target's hierarchy separator: written as “_” in the folder's name"
			}
		}
		m.name = t.prefix + strings.Join(comps, string(t.delim))
	} else {
		m.name = t.prefix + strings.Join(comps, "_")
		if len(comps) > 1 {
			m.note = "the target has no subfolders: levels joined with “_”"
		}
	}
	return m
}

// splitInto splits the --into parent at '/' (how a user writes a path) or
// the target's own separator.
func splitInto(into string, delim rune) []string {
	f := func(r rune) bool { return r == '/' || (delim != 0 && r == delim) }
	return strings.FieldsFunc(into, f)
}

// keepFlags filters an archived message's flags to those the target keeps
// (PERMANENTFLAGS; "\*" allows any keyword), returning how many were dropped.
// \Recent is never set by a client.
func keepFlags(flags []string, perm []imap.Flag, anyKeyword bool, all bool) (kept []imap.Flag, dropped int) {
	for _, f := range flags {
		if strings.EqualFold(f, `\Recent`) {
			continue
		}
		if all || permits(perm, f) || (anyKeyword && !strings.HasPrefix(f, `\`)) {
			kept = append(kept, imap.Flag(f))
		} else {
			dropped++
		}
	}
	return kept, dropped
}

func permits(perm []imap.Flag, f string) bool {
	for _, p := range perm {
		if strings.EqualFold(string(p), f) {
			return true
		}
	}
	return false
}
