package secrets

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// commandTimeout bounds a password_command.
var commandTimeout = 30 * time.Second

// Password returns the IMAP password of an account: the first line printed by
// passwordCommand (run with sh -c) when it is set, else the secret stored in
// st under KeyFor(accountName).
func Password(st Store, accountName, passwordCommand string) (string, error) {
	if passwordCommand != "" {
		return runPasswordCommand(accountName, passwordCommand)
	}
	if st == nil {
		return "", fmt.Errorf("account %q: no password store and no password_command; set password_command in the config", accountName)
	}
	pw, err := st.Get(Service, KeyFor(accountName))
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("account %q has no stored password: run \"lifeboat accounts add %s\" to store one, or set password_command in the config: %w", accountName, accountName, err)
	}
	if err != nil {
		return "", fmt.Errorf("account %q: %w", accountName, err)
	}
	return pw, nil
}

func runPasswordCommand(accountName, command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	var stdout, stderr capped
	stdout.max, stderr.max = 64<<10, 200
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second // do not wait on children that keep the pipes open
	err := cmd.Run()

	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf("account %q: password_command %q ", accountName, command) + fmt.Sprintf(format, args...)
		if s := strings.Join(strings.Fields(strings.ToValidUTF8(stderr.String(), "")), " "); s != "" {
			msg += " (stderr: " + s + ")"
		}
		return errors.New(msg + "; fix the command (try it in a shell) or remove it to use the keyring")
	}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return "", fail("did not finish within %v", commandTimeout)
	case err != nil:
		return "", fail("failed: %v", err)
	}
	line, _, _ := strings.Cut(stdout.String(), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fail("printed nothing on its first line; it must print the password")
	}
	return line, nil
}

// capped keeps the first max bytes written to it and discards the rest, so
// that a chatty command neither fills memory nor dies of a broken pipe.
type capped struct {
	b   []byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string { return string(c.b) }
