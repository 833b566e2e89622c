//go:build nogui

package main

import (
	"fmt"
	"os"

	"github.com/lifeboat-mail/lifeboat/app/cli"
)

// This build has no desktop app (-tags nogui): the command line only.
func displayAvailable() bool { return false }

func runDesktop([]string) int {
	fmt.Fprintln(os.Stderr, "lifeboat: this build has no desktop app (it was built with -tags nogui); see lifeboat help for the command line")
	return cli.ExitUsage
}
