package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/config"
)

type folderStatus struct {
	Path         string    `json:"path"`
	Archived     int       `json:"archived"`
	OnServer     uint32    `json:"on_server"`
	GoneOnServer int       `json:"deleted_on_server"`
	Bytes        int64     `json:"bytes"`
	LastComplete time.Time `json:"last_complete,omitempty"`
	Local        bool      `json:"local,omitempty"`
	// Recovered counts messages adopted from the mbox file (Lifeboat's
	// records of them were lost); Unmatched those not found on the server
	// yet; Damaged records a repair marked.
	Recovered int                `json:"recovered,omitempty"`
	Unmatched int                `json:"unmatched,omitempty"`
	Damaged   int                `json:"damaged,omitempty"`
	Adoptions []archive.Adoption `json:"adoptions,omitempty"`
	Problems  []string           `json:"problems,omitempty"`
	Unlogged  int64              `json:"unlogged_bytes,omitempty"` // at the end of the mbox, for the next backup to adopt
}

type accountStatus struct {
	Account  string         `json:"account"`
	LastRun  *archive.Run   `json:"last_run,omitempty"`
	Folders  []folderStatus `json:"folders"`
	Warnings []string       `json:"warnings,omitempty"`
	// Unrecorded: a folder was synced after the last recorded run (its
	// record could not be written: a full disk), or no run is recorded.
	Unrecorded     bool      `json:"unrecorded,omitempty"`
	LastFolderSync time.Time `json:"last_folder_sync,omitempty"`
	Unlogged       []string  `json:"not_yet_adopted,omitempty"`
	Pending        int       `json:"copies_waiting,omitempty"`
}

func collectStatus(arch *archive.Archive, names []string) ([]accountStatus, error) {
	var out []accountStatus
	for _, name := range names {
		st := accountStatus{Account: name}
		runs, err := arch.Runs(name)
		if len(runs) > 0 {
			st.LastRun = &runs[len(runs)-1]
			st.Warnings = st.LastRun.Warnings
		}
		if err != nil { // the history is informative: the folders are the truth
			st.Warnings = append(st.Warnings, fmt.Sprintf("the run history cannot be read (%v)", err))
		}
		inv, err := arch.Inventory(name)
		if err != nil {
			return nil, err
		}
		st.Unlogged = inv.Unlogged
		st.Pending = arch.PendingCopies(name)
		var newest time.Time
		for _, id := range inv.Folders {
			fs := folderStatus{Path: id.Path(), Local: id.Local}
			f, problems, err := arch.Inspect(id)
			if err != nil {
				fs.Problems = []string{err.Error()}
				st.Folders = append(st.Folders, fs)
				continue
			}
			fs.Archived, fs.OnServer, fs.LastComplete = len(f.Entries()), f.State.Messages, f.State.At
			fs.Problems, fs.Damaged, fs.Adoptions, fs.Unmatched = problems, len(f.Damaged()), f.Adoptions, f.Unmatched()
			for _, e := range f.Entries() {
				fs.Bytes += e.Length
				if !e.Gone.IsZero() {
					fs.GoneOnServer++
				}
				if e.Recovered {
					fs.Recovered++
				}
			}
			if f.State.At.After(newest) {
				newest = f.State.At
			}
			switch mst, err := os.Stat(arch.MboxPath(id)); {
			case err != nil:
				fs.Problems = append(fs.Problems, fmt.Sprintf("its mbox file cannot be read (%v)", err))
			case mst.Size() < f.End():
				fs.Problems = append(fs.Problems, fmt.Sprintf("its mbox file has %d bytes, its log describes %d", mst.Size(), f.End()))
			case mst.Size() > f.End():
				fs.Unlogged = mst.Size() - f.End()
			}
			st.Folders = append(st.Folders, fs)
		}
		st.LastFolderSync = newest
		st.Unrecorded = !newest.IsZero() && (st.LastRun == nil || newest.After(st.LastRun.End.Add(time.Second)))
		out = append(out, st)
	}
	return out, nil
}

func (c *command) status(args []string) error {
	fs := c.flags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("status takes no arguments")
	}
	_, arch, names, err := c.archiveAccounts("")
	if err != nil {
		return err
	}
	sts, err := collectStatus(arch, names)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sts)
	}
	c.printStatus(arch, sts)
	c.printService()
	c.printIncidents(10)
	for _, st := range sts {
		if len(st.Warnings) > 0 {
			return errWarnings
		}
	}
	return nil
}

// archiveAccounts loads the configuration and opens the archive, and lists
// the accounts a command works on: only, or every account accountNames
// gives.
func (c *command) archiveAccounts(only string) (*config.Config, *archive.Archive, []string, error) {
	cfg, err := c.loadConfig()
	if err != nil {
		return nil, nil, nil, err
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if only != "" {
		return cfg, arch, []string{only}, nil
	}
	return cfg, arch, accountNames(cfg, arch), nil
}

// accountNames lists configured accounts, then archived ones no longer
// configured (their archives stay readable).
func accountNames(cfg *config.Config, arch *archive.Archive) []string {
	seen := map[string]bool{}
	var names []string
	for _, a := range cfg.Accounts {
		names = append(names, a.Name)
		seen[a.Name] = true
	}
	archived, _ := arch.Accounts()
	for _, n := range archived {
		if !seen[n] {
			names = append(names, n)
		}
	}
	return names
}

func (c *command) printStatus(arch *archive.Archive, sts []accountStatus) {
	w := c.env.Stdout
	fmt.Fprintf(w, "Archive: %s\n", arch.Root)
	for _, st := range sts {
		fmt.Fprintln(w)
		switch r := st.LastRun; {
		case r == nil && len(st.Folders) == 0 && len(st.Unlogged) == 0:
			fmt.Fprintf(w, "%s: never backed up\n", st.Account)
			continue
		case r == nil:
			fmt.Fprintf(w, "%s: no backup run is recorded\n", st.Account)
		default:
			fmt.Fprintf(w, "%s: last run %s (%s ago): %s\n", st.Account, r.Start.Local().Format("2006-01-02 15:04"),
				time.Since(r.Start).Round(time.Second), r.Result)
			if r.Error != "" {
				fmt.Fprintf(w, "  error: %s\n", r.Error)
			}
		}
		if st.Unrecorded {
			fmt.Fprintf(w, "  NOTE: folders were last backed up at %s by a run that is not recorded (its record could not be written — was the disk full?); the figures below are read from the folders themselves\n",
				st.LastFolderSync.Local().Format("2006-01-02 15:04"))
		}
		for _, warn := range st.Warnings {
			fmt.Fprintf(w, "  WARNING: %s\n", warn)
		}
		for _, p := range st.Unlogged {
			fmt.Fprintf(w, "  NOT YET ADOPTED: %s (the next backup adopts its messages)\n", p)
		}
		if st.Pending > 0 {
			fmt.Fprintf(w, "  %s of sent mail wait for the archive (the next backup adds them)\n", plural(st.Pending, "copy", "copies"))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  folder\tarchived\ton server\tdeleted on server\tsize\tlast complete\t\n")
		var notes []string
		for _, f := range st.Folders {
			last := "never"
			if !f.LastComplete.IsZero() {
				last = f.LastComplete.Local().Format("2006-01-02 15:04")
			}
			onServer := fmt.Sprint(f.OnServer)
			if f.Local {
				onServer, last = "-", "(kept by Lifeboat)"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\t%s\t\n", f.Path, f.Archived, onServer, f.GoneOnServer, humanBytes(f.Bytes), last)
			for _, a := range f.Adoptions {
				notes = append(notes, fmt.Sprintf("%s: %s adopted from the mbox file on %s: %s", f.Path, plural(a.Count, "message", "messages"),
					a.At.Local().Format("2006-01-02 15:04"), a.Why))
			}
			if f.Unmatched > 0 {
				notes = append(notes, fmt.Sprintf("%s: %d of its %d recovered messages are not matched to the server's yet (the next backup looks)", f.Path, f.Unmatched, f.Recovered))
			}
			if f.Damaged > 0 {
				notes = append(notes, fmt.Sprintf("%s: %s marked damaged by a repair (kept; good copies fetched again where the server had them)", f.Path,
					plural(f.Damaged, "record", "records")))
			}
			if f.Unlogged > 0 {
				notes = append(notes, fmt.Sprintf("%s: %d bytes at the end of its mbox file are not in its log yet (the next backup adopts them)", f.Path, f.Unlogged))
			}
			for _, p := range f.Problems {
				notes = append(notes, fmt.Sprintf("%s: DAMAGED: %s — run \"lifeboat repair --account %s --folder %q\"", f.Path, p, st.Account, f.Path))
			}
		}
		tw.Flush()
		for _, n := range notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
}

func (c *command) verify(args []string) error {
	fs := c.flags("verify")
	only := fs.String("account", "", "verify only this account")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("verify takes no arguments (use --account NAME)")
	}
	_, arch, names, err := c.archiveAccounts(*only)
	if err != nil {
		return err
	}
	out := c.env.Stdout
	checked, damaged, marked, foreign := 0, 0, 0, 0
	start := time.Now()
	for _, name := range names {
		inv, err := arch.Inventory(name)
		if err != nil {
			fmt.Fprintf(out, "DAMAGED %s: %v\n", name, err)
			damaged++
			continue
		}
		for _, p := range inv.Foreign {
			fmt.Fprintf(out, "FOREIGN %s (not Lifeboat's: left alone, and not checked)\n", p)
			foreign++
		}
		for _, p := range inv.Unlogged {
			fmt.Fprintf(out, "NOT YET ADOPTED %s: no log describes it; the next backup of %s adopts its messages\n", p, name)
		}
		for _, id := range inv.Folders {
			n, damage, err := arch.VerifyFolder(id, nil)
			if err != nil {
				fmt.Fprintf(out, "DAMAGED %s: %v\n", id, err)
				damaged++
				continue
			}
			checked += n
			for _, d := range damage {
				fmt.Fprintf(out, "DAMAGED %s\n", d)
				damaged++
			}
			if f, _, err := arch.Inspect(id); err == nil {
				marked += len(f.Damaged())
			}
		}
	}
	fmt.Fprintf(out, "%s checked in %.1f s: ", plural(checked, "message", "messages"), time.Since(start).Seconds())
	if damaged > 0 {
		fmt.Fprintf(out, "%s found. Nothing was changed; \"lifeboat repair\" makes the damaged folders consistent again without losing a byte and fetches what the server still has.\n",
			plural(damaged, "problem", "problems"))
		return exitError{ExitFailure}
	}
	fmt.Fprint(out, "every one intact.")
	if marked > 0 {
		fmt.Fprintf(out, " (%s marked damaged by an earlier repair are kept as they are.)", plural(marked, "record", "records"))
	}
	fmt.Fprintln(out)
	if checked == 0 {
		return errors.New("nothing archived yet: run \"lifeboat backup\" first")
	}
	if foreign > 0 {
		return errWarnings
	}
	return nil
}
