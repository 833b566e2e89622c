package cli

import (
	"fmt"

	"github.com/lifeboat-mail/lifeboat/store/importer"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
)

func (c *command) importMail(args []string) error {
	fs := c.flags("import")
	account := fs.String("account", "", "the archive account to import into (a configured one, or a new name)")
	folder := fs.String("folder", "", "put everything into this archive folder (default: one folder per file or directory)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *account == "" {
		return usagef("import needs one PATH (an mbox file, a directory of .eml files, or a tree of them) and --account NAME")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	res, err := importer.Import(arch, *account, pos[0], importer.Options{Folder: *folder,
		Progress: func(src, folder string, added, skipped int) {
			fmt.Fprintf(c.env.Stdout, "  %-40s → %s: %d added, %d already there\n", trim(src, 40), folder, added, skipped)
		}})
	if err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintf(c.env.Stderr, "lifeboat: import: %s\n", p)
	}
	fmt.Fprintf(c.env.Stdout, "Imported %s from %s into %s (%d already there).\n", plural(res.Added, "message", "messages"),
		plural(res.Sources, "source", "sources"), *account, res.Skipped)
	c.updateIndex(arch, []backup.Account{{Name: *account}})
	if len(res.Problems) > 0 {
		return errWarnings
	}
	return nil
}
