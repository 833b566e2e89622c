//go:build !nogui

package main

import (
	"github.com/lifeboat-mail/lifeboat/app/desktop"
	_ "github.com/lifeboat-mail/lifeboat/app/fynelog" // initialised before Fyne: no locale noise on stderr
)

// The desktop app (app/desktop). A build with -tags nogui leaves it out:
// a command line for servers, without the GUI libraries (about 21 MB less
// resident memory in every process, and no X11/GL to install).
func displayAvailable() bool       { return desktop.DisplayAvailable() }
func runDesktop(args []string) int { return desktop.Run(args) }
