package cli

import (
	"fmt"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/index"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
)

func (c *command) indexFailed(err error) {
	fmt.Fprintf(c.env.Stderr, "lifeboat: the search index could not be updated (%v); the archive itself is fine — run \"lifeboat reindex\"\n", err)
}

// updateIndex brings the derived index up to date after a backup. The index
// is a convenience derived from the archive files: a failure is reported,
// never fatal, and "lifeboat reindex" rebuilds it.
func (c *command) updateIndex(arch *archive.Archive, accts []backup.Account) {
	ix, err := index.Open(index.DefaultPath(arch))
	if err == nil {
		defer ix.Close()
		for _, a := range accts {
			if _, uerr := ix.Update(arch, a.Name); uerr != nil {
				err = uerr
			}
		}
	}
	if err != nil {
		c.indexFailed(err)
	}
}

func (c *command) reindex(args []string) error {
	fs := c.flags("reindex")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("reindex takes no arguments")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	ix, err := index.Open(index.DefaultPath(arch))
	if err != nil {
		return err
	}
	defer ix.Close()
	start := time.Now()
	st, err := ix.Rebuild(arch, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "Index rebuilt from the archive files: %s in %s, %.1f s (%s).\n",
		plural(st.Messages, "message", "messages"), plural(st.Folders, "folder", "folders"), time.Since(start).Seconds(), index.DefaultPath(arch))
	return nil
}
