package secrets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
		return runPasswordCommand(fmt.Sprintf("account %q: password_command", accountName), passwordCommand)
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

// RelayKey is where the local relay's password is kept in the store.
const RelayKey = "relay"

// RelayPassword returns the local relay's password: the first line printed
// by command (relay_password_command) when it is set, else the secret kept
// in st, made (random, 144 bits, hex) and kept there on first use. Without a
// usable store (no desktop keyring: a headless server) it says to set
// relay_password_command.
func RelayPassword(st Store, command string) (string, error) {
	if command != "" {
		return runPasswordCommand("relay_password_command", command)
	}
	return generated(st, RelayKey, "the relay",
		"; on a computer without a desktop keyring, set relay_password_command in [failover] (for example \"cat /etc/lifeboat/relay-password\")")
}

// ServeKey is where the password of "lifeboat serve" (the read-only IMAP
// server over the archive) is kept in the store.
const ServeKey = "serve"

// ServePassword returns the password mail programs log in to "lifeboat
// serve" with: made on first use and kept in st, like the relay's.
func ServePassword(st Store) (string, error) {
	return generated(st, ServeKey, "the archive server", "; it needs a desktop keyring (Secret Service, Keychain, Windows Credential Manager)")
}

// generated returns the secret kept under key, making it (random, 144
// bits, hex) on first use.
func generated(st Store, key, what, advice string) (string, error) {
	if st == nil {
		return "", errors.New(what + "'s password has no store" + advice)
	}
	pw, err := st.Get(Service, key)
	if err == nil {
		return pw, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%s's password cannot be read from the keyring: %w%s", what, err, advice)
	}
	// Hex: no character a mail program's settings or a command line could
	// take for something else (base64 may start with "-").
	var b [18]byte
	rand.Read(b[:])
	pw = hex.EncodeToString(b[:])
	if err := st.Set(Service, key, pw); err != nil {
		return "", fmt.Errorf("%s's password cannot be kept in the keyring: %w%s", what, err, advice)
	}
	return pw, nil
}

func runPasswordCommand(label, command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	var stdout, stderr capped
	stdout.max, stderr.max = 64<<10, 200
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second // do not wait on children that keep the pipes open
	err := cmd.Run()

	fail := func(format string, args ...any) error {
		msg := fmt.Sprintf("%s %q ", label, command) + fmt.Sprintf(format, args...)
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
