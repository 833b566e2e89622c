package cli

import (
	"encoding/json"
	"errors"
	"fmt"
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
}

type accountStatus struct {
	Account  string         `json:"account"`
	LastRun  *archive.Run   `json:"last_run,omitempty"`
	Folders  []folderStatus `json:"folders"`
	Warnings []string       `json:"warnings,omitempty"`
}

func collectStatus(arch *archive.Archive, names []string) ([]accountStatus, error) {
	var out []accountStatus
	for _, name := range names {
		st := accountStatus{Account: name}
		runs, err := arch.Runs(name)
		if err != nil {
			return nil, err
		}
		if len(runs) > 0 {
			st.LastRun = &runs[len(runs)-1]
			st.Warnings = st.LastRun.Warnings
		}
		ids, err := arch.Folders(name)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			f, err := arch.ReadFolder(id)
			if err != nil {
				return nil, err
			}
			fs := folderStatus{Path: id.Path(), Archived: len(f.Entries()), OnServer: f.State.Messages, LastComplete: f.State.At}
			for _, e := range f.Entries() {
				fs.Bytes += e.Length
				if !e.Gone.IsZero() {
					fs.GoneOnServer++
				}
			}
			st.Folders = append(st.Folders, fs)
		}
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
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	names := accountNames(cfg, arch)
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
	c.printIncidents(10)
	for _, st := range sts {
		if len(st.Warnings) > 0 {
			return errWarnings
		}
	}
	return nil
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
		if st.LastRun == nil {
			fmt.Fprintf(w, "%s: never backed up\n", st.Account)
			continue
		}
		r := st.LastRun
		fmt.Fprintf(w, "%s: last run %s (%s ago): %s\n", st.Account, r.Start.Local().Format("2006-01-02 15:04"),
			time.Since(r.Start).Round(time.Second), r.Result)
		if r.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", r.Error)
		}
		for _, warn := range st.Warnings {
			fmt.Fprintf(w, "  WARNING: %s\n", warn)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  folder\tarchived\ton server\tdeleted on server\tsize\tlast complete\t\n")
		for _, f := range st.Folders {
			last := "never"
			if !f.LastComplete.IsZero() {
				last = f.LastComplete.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\t%s\t\n", f.Path, f.Archived, f.OnServer, f.GoneOnServer, humanBytes(f.Bytes), last)
		}
		tw.Flush()
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
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	names := accountNames(cfg, arch)
	if *only != "" {
		names = []string{*only}
	}
	checked, damaged := 0, 0
	start := time.Now()
	for _, name := range names {
		ids, err := arch.Folders(name)
		if err != nil {
			return err
		}
		for _, id := range ids {
			n, damage, err := arch.VerifyFolder(id, nil)
			if err != nil {
				fmt.Fprintf(c.env.Stdout, "DAMAGED %s: %v\n", id, err)
				damaged++
				continue
			}
			checked += n
			for _, d := range damage {
				fmt.Fprintf(c.env.Stdout, "DAMAGED %s\n", d)
				damaged++
			}
		}
	}
	fmt.Fprintf(c.env.Stdout, "%s checked in %.1f s: ", plural(checked, "message", "messages"), time.Since(start).Seconds())
	if damaged > 0 {
		fmt.Fprintf(c.env.Stdout, "%s found. The archive was not changed; the next backup fetches again what the server still has.\n",
			plural(damaged, "problem", "problems"))
		return exitError{ExitFailure}
	}
	fmt.Fprintln(c.env.Stdout, "every one intact.")
	if checked == 0 {
		return errors.New("nothing archived yet: run \"lifeboat backup\" first")
	}
	return nil
}
