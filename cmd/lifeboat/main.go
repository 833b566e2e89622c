// Command lifeboat backs up IMAP accounts into local mbox archives.
// See "lifeboat help".
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
	// The desktop app: "lifeboat" with a display, "lifeboat gui", or
	// "lifeboat --demo". Everything else is the command line.
	args := os.Args[1:]
	switch {
	case len(args) == 0 && displayAvailable():
		os.Exit(runGUI(nil))
	case len(args) > 0 && args[0] == "gui":
		os.Exit(runGUI(args[1:]))
	case len(args) > 0 && args[0] == "--demo":
		os.Exit(runGUI(args))
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
	code := cli.Main(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}
