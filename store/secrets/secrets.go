// Package secrets stores and finds IMAP passwords.
//
// What it guarantees:
//
//   - Passwords are kept in the OS keyring (Secret Service on Linux, Keychain
//     on macOS, Credential Manager on Windows) under service "lifeboat" and
//     user KeyFor(account), or are produced by the account's password_command.
//   - A missing secret is reported as an error wrapping ErrNotFound.
//   - No error from this package contains a password or the output of a
//     password_command (only up to 200 characters of its stderr).
//   - Keyring calls never hang forever: a keyring that does not answer (for
//     example one waiting on an unlock prompt nobody can see) gives an error
//     after a minute, and on Linux no session bus is started behind the
//     caller's back when there is none.
package secrets

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/zalando/go-keyring"
)

// Service is the keyring service name for every Lifeboat secret.
const Service = "lifeboat"

// ErrNotFound means the store holds no secret for the service and user.
var ErrNotFound = errors.New("secret not found")

// ErrTooBig means the keyring cannot hold a secret that long (Windows
// Credential Manager: 2560 bytes; macOS: about 2 KB through its tool).
var ErrTooBig = errors.New("the secret is too long for the system keyring")

// Store holds secrets by service and user.
type Store interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// KeyFor is the keyring user under which the account's password is stored.
func KeyFor(accountName string) string { return "account:" + accountName }

// Keyring returns the OS keyring.
func Keyring() Store { return osKeyring{} }

// keyringTimeout bounds each keyring call. It is long enough for a person to
// answer an unlock prompt.
var keyringTimeout = time.Minute

type osKeyring struct{}

func (osKeyring) Get(service, user string) (string, error) {
	var secret string
	err := call(user, func() (err error) { secret, err = keyring.Get(service, user); return err })
	return secret, err
}

func (osKeyring) Set(service, user, secret string) error {
	return call(user, func() error { return keyring.Set(service, user, secret) })
}

func (osKeyring) Delete(service, user string) error {
	return call(user, func() error { return keyring.Delete(service, user) })
}

// call runs f with a timeout and turns its error into advice.
func call(user string, f func() error) error {
	if noSessionBus() {
		return unavailable(errors.New("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set"))
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(keyringTimeout):
		err = fmt.Errorf("no answer within %v; it may be locked and waiting for an unlock prompt", keyringTimeout)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("no secret for %q in the system keyring: %w", user, ErrNotFound)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("cannot store %q: %w", user, ErrTooBig)
	default:
		return unavailable(err)
	}
}

func unavailable(err error) error {
	return fmt.Errorf("the system keyring is not available (%v): start a desktop session, or use password_command in the config", err)
}

// noSessionBus reports whether the Secret Service cannot be reached because
// there is no session bus. Without this check the D-Bus library would run
// dbus-launch and leave a stray bus daemon behind.
func noSessionBus() bool {
	switch runtime.GOOS {
	case "darwin", "windows", "ios", "android":
		return false
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return false
	}
	for _, f := range []string{"bus", "dbus-session"} { // where godbus looks
		if _, err := os.Stat(fmt.Sprintf("/run/user/%d/%s", os.Getuid(), f)); err == nil {
			return false
		}
	}
	return true
}

// Memory is an in-memory Store for tests. It is safe for concurrent use.
type Memory struct {
	mu sync.Mutex
	m  map[[2]string]string
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{m: map[[2]string]string{}} }

func (m *Memory) Get(service, user string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[[2]string{service, user}]
	if !ok {
		return "", fmt.Errorf("no secret for %q: %w", user, ErrNotFound)
	}
	return s, nil
}

func (m *Memory) Set(service, user, secret string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[[2]string{service, user}] = secret
	return nil
}

func (m *Memory) Delete(service, user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{service, user}
	if _, ok := m.m[k]; !ok {
		return fmt.Errorf("no secret for %q: %w", user, ErrNotFound)
	}
	delete(m.m, k)
	return nil
}

// Keys lists the users of the stored secrets (tests).
func (m *Memory) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.m {
		out = append(out, k[1])
	}
	return out
}
