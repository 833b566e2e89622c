package cli

import (
	"fmt"

	"github.com/lifeboat-mail/lifeboat/store/export"
)

func (c *command) export(args []string) error {
	fs := c.flags("export")
	account := fs.String("account", "", "the archived account to export")
	format := fs.String("format", "mbox", "mbox (one mboxrd file per folder), eml (one file per message) or thunderbird (a Local Folders tree)")
	var folders multiFlag
	fs.Var(&folders, "folder", "export only this folder and its subfolders (may be repeated)")
	skipDeleted := fs.Bool("skip-deleted", false, "leave out messages the server had deleted")
	byLabel := fs.Bool("by-label", false, "Gmail: one mbox per label under Labels/ (a message with two labels is in both); unlabelled mail, Trash and Spam stay in their folders' files")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *account == "" {
		return usagef("export needs --account NAME and one destination directory (new or empty)")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	res, err := export.Export(arch, *account, pos[0], export.Options{Format: export.Format(*format), Folders: folders, SkipDeleted: *skipDeleted, ByLabel: *byLabel,
		Progress: func(folder string, n int) {
			fmt.Fprintf(c.env.Stdout, "  %-40s %s\n", trim(folder, 40), plural(n, "message", "messages"))
		}})
	if err != nil {
		return err
	}
	where := plural(res.Folders, "folder", "folders")
	switch {
	case res.Labels > 0 && res.Folders == 0:
		where = plural(res.Labels, "label", "labels")
	case res.Labels > 0:
		where += " and " + plural(res.Labels, "label", "labels")
	}
	fmt.Fprintf(c.env.Stdout, "Exported %s in %s (%s) to %s.\n", plural(res.Messages, "message", "messages"), where, humanBytes(res.Bytes), pos[0])
	if *format == string(export.Thunderbird) {
		fmt.Fprintln(c.env.Stdout, "Copy its contents into Thunderbird's \"Local Folders\" directory (Thunderbird closed), or point a new Local Folders account at it.")
	}
	return nil
}
