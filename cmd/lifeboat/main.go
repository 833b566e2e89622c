// Command lifeboat backs up IMAP accounts into local mbox archives, reads
// and searches them offline, and sends through a secondary account when a
// provider is down. With a display and no arguments (or "gui", or
// "--demo") it opens the desktop app (app/desktop); everything else is the
// command line (app/cli, see "lifeboat help"). This file only chooses;
// gui.go links the desktop app, left out by -tags nogui (gui_nogui.go).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/lifeboat-mail/lifeboat/app/cli"
)

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 0 && displayAvailable():
		os.Exit(runDesktop(nil))
	case len(args) > 0 && args[0] == "gui":
		os.Exit(runDesktop(args[1:]))
	case len(args) > 0 && args[0] == "--demo":
		os.Exit(runDesktop(args))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cli.Env{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Terminal: term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stdin.Fd())),
		ReadPassword: func(prompt string) (string, error) {
			fmt.Fprint(os.Stderr, prompt)
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(os.Stderr)
			return string(b), err
		},
	}
	// After Ctrl-C or SIGTERM the engines stop at the next safe point. If
	// something is stuck (a server that stops answering mid-literal can
	// block the IMAP library's reader), exit anyway after a grace period:
	// the archive is crash-safe by design, so this loses no mail.
	go func() {
		<-ctx.Done()
		time.Sleep(15 * time.Second)
		fmt.Fprintln(os.Stderr, "lifeboat: still busy 15 s after being asked to stop; stopping now (the next run continues where this one stopped)")
		os.Exit(cli.ExitFailure)
	}()
	endProfile := profile()
	code := cli.Main(ctx, args, env)
	endProfile()
	stop()
	os.Exit(code)
}
