package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
)

// repair makes damaged folders consistent again (archive.Repair), then backs
// the accounts up so that what the server still has of the damaged
// messages is fetched again, and says what could not be.
func (c *command) repair(args []string) error {
	fs := c.flags("repair")
	only := fs.String("account", "", "repair only this account")
	folder := fs.String("folder", "", "repair only this folder (its path, as status shows it)")
	noBackup := fs.Bool("no-backup", false, "do not fetch damaged messages again from the server")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("repair takes no arguments (use --account NAME --folder PATH)")
	}
	if *folder != "" && *only == "" {
		return usagef("--folder needs --account")
	}
	cfg, arch, names, err := c.archiveAccounts(*only)
	if err != nil {
		return err
	}
	out := c.env.Stdout
	var damaged []archive.Damage
	changed := false
	for _, name := range names {
		unlock, err := arch.LockAccount(name)
		if errors.Is(err, archive.ErrLocked) {
			return fmt.Errorf("%s: %v; run repair again when it has finished", name, err)
		}
		if err != nil {
			return err
		}
		notes, err := arch.Prepare(name)
		for _, n := range notes {
			fmt.Fprintf(out, "%s: %s\n", name, n.Text)
			changed = true
		}
		if err != nil {
			unlock()
			return err
		}
		ids, err := arch.Folders(name)
		if err != nil {
			unlock()
			return err
		}
		found := false
		for _, id := range ids {
			if *folder != "" && id.Path() != *folder {
				continue
			}
			found = true
			rep, err := arch.Repair(id)
			if err != nil {
				fmt.Fprintf(out, "%s: cannot be repaired: %v\n", id, err)
				continue
			}
			if !rep.Changed() {
				continue
			}
			changed = true
			fmt.Fprintln(out, repairText(rep))
			for _, d := range rep.Damaged {
				if d.UID != 0 {
					damaged = append(damaged, d)
				}
			}
		}
		unlock()
		if *folder != "" && !found {
			return fmt.Errorf("%s has no archived folder %q (see lifeboat status)", name, *folder)
		}
	}
	if !changed {
		fmt.Fprintln(out, "Nothing to repair: every folder's files agree with each other.")
	}
	if *noBackup || len(damaged) == 0 {
		return nil
	}
	var accts []backup.Account
	for _, a := range cfg.Accounts {
		for _, d := range damaged {
			if d.Folder.Account == a.Name {
				accts = append(accts, c.wiring(cfg).BackupAccount(a))
				break
			}
		}
	}
	if len(accts) > 0 {
		fmt.Fprintln(out, "Fetching again what the server still has of the damaged messages:")
		opts := backup.Options{Archive: arch, MassDeletePercent: cfg.MassDeletePercent, MassDeleteMin: cfg.MassDeleteMin}
		if err := c.runBackup(arch, accts, opts, false); err != nil && !errors.Is(err, errWarnings) {
			return err
		}
	}
	lost := 0
	byFolder := map[archive.FolderID]*archive.Folder{}
	for _, d := range damaged {
		f := byFolder[d.Folder]
		if f == nil {
			if f, err = arch.ReadFolder(d.Folder); err != nil {
				return err
			}
			byFolder[d.Folder] = f
		}
		if len(f.ByHash(d.SHA)) == 0 {
			lost++
			fmt.Fprintf(out, "NOT RECOVERED %s: the server no longer has it; its damaged bytes stay in the archive\n", d)
		}
	}
	fmt.Fprintf(out, "%d of %s fetched again from the server.\n", len(damaged)-lost, plural(len(damaged), "damaged message", "damaged messages"))
	if lost > 0 {
		return errWarnings
	}
	return nil
}

func repairText(rep archive.RepairReport) string {
	var what []string
	if rep.MboxMissing {
		what = append(what, "its mbox file was missing (an empty one was made)")
	}
	if n := len(rep.Damaged); n > 0 {
		var uids []string
		for _, d := range rep.Damaged {
			if d.UID != 0 {
				uids = append(uids, fmt.Sprint(d.UID))
			}
		}
		s := plural(n, "damaged message", "damaged messages") + " marked"
		if len(uids) > 0 && len(uids) <= 10 {
			s += " (UID " + strings.Join(uids, ", ") + ")"
		}
		what = append(what, s)
	}
	if rep.LogLines > 0 {
		what = append(what, plural(rep.LogLines, "unreadable log line", "unreadable log lines")+" dropped (the old log is in quarantine)")
	}
	if rep.Adopted > 0 {
		what = append(what, plural(rep.Adopted, "message", "messages")+" adopted from bytes no log record described")
	}
	for _, q := range rep.Quarantined {
		what = append(what, q.String())
	}
	return fmt.Sprintf("%s: repaired: %s", rep.Folder, strings.Join(what, "; "))
}
