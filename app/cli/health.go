package cli

import (
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
)

// health returns the health model the router consults (nil: every account
// is tried).
func (c *command) health(cfg *config.Config) failover.Health { return nil }

// startMonitor runs the outage probes in the background.
func (c *command) startMonitor(cfg *config.Config, h failover.Health) {}
