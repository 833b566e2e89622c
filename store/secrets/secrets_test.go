package secrets

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

func TestKeyFor(t *testing.T) {
	if got := KeyFor("work"); got != "account:work" {
		t.Errorf("KeyFor(work) = %q", got)
	}
}

func TestMemory(t *testing.T) {
	m := NewMemory()
	if _, err := m.Get(Service, "u"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on empty store: %v", err)
	}
	steps := []struct {
		name, set, want string
	}{
		{"set", "first", "first"},
		{"overwrite", "second", "second"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := m.Set(Service, "u", s.set); err != nil {
				t.Fatal(err)
			}
			if got, err := m.Get(Service, "u"); err != nil || got != s.want {
				t.Errorf("Get = %q, %v; want %q", got, err, s.want)
			}
		})
	}
	if _, err := m.Get("other", "u"); !errors.Is(err, ErrNotFound) {
		t.Errorf("secrets are not kept per service: %v", err)
	}
	if err := m.Delete(Service, "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(Service, "u"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := m.Delete(Service, "u"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			user := fmt.Sprint("u", i)
			for j := range 100 {
				_ = m.Set(Service, user, fmt.Sprint(j))
				_, _ = m.Get(Service, user)
				_, _ = m.Get(Service, "shared")
			}
			_ = m.Delete(Service, user)
		})
	}
	wg.Wait()
}

func TestPassword(t *testing.T) {
	const stored = "from-the-keyring"
	st := NewMemory()
	_ = st.Set(Service, KeyFor("work"), stored)

	tests := []struct {
		name, account, command string
		want                   string   // the password, when no error is wanted
		errHas                 []string // substrings of the error
		errLacks               []string // never in the error
		notFound               bool     // the error wraps ErrNotFound
	}{
		{name: "keyring", account: "work", want: stored},
		{name: "not in keyring", account: "home", notFound: true,
			errHas: []string{`account "home" has no stored password`, "lifeboat accounts add home", "password_command"}},
		{name: "command wins over keyring", account: "work", command: `printf 'pw\n'`, want: "pw"},
		{name: "first line only", account: "work", command: `printf 'pw\nsecond\n'`, want: "pw"},
		{name: "no trailing newline", account: "work", command: `printf 'p w'`, want: "p w"},
		{name: "CRLF", account: "work", command: `printf 'pw\r\n'`, want: "pw"},
		{name: "failing command", account: "work", command: `echo out-''secret; echo 'gpg: decryption failed' >&2; exit 3`,
			errHas:   []string{`account "work"`, `password_command "echo out-''secret;`, "exit status 3", "gpg: decryption failed"},
			errLacks: []string{"out-secret", stored}},
		{name: "failing command printing a password", account: "work", command: `printf 'hun''ter2\n'; exit 1`,
			errHas: []string{"exit status 1"}, errLacks: []string{"hunter2"}},
		{name: "command printing nothing", account: "work", command: `true`,
			errHas: []string{"printed nothing", "true"}, errLacks: []string{stored}},
		{name: "command printing an empty line", account: "work", command: `echo; echo sec''ond`,
			errHas: []string{"printed nothing"}, errLacks: []string{"second"}},
		{name: "long stderr is cut", account: "work", command: `for i in $(seq 100); do printf 'abcdefghij' >&2; done; exit 1`,
			errHas: []string{strings.Repeat("abcdefghij", 20) + ")"}, errLacks: []string{strings.Repeat("abcdefghij", 21)}},
		{name: "missing program", account: "work", command: `/nonexistent/pass-helper`,
			errHas: []string{"/nonexistent/pass-helper", "exit status 127"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Password(st, tt.account, tt.command)
			if tt.errHas == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Password = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; got password %q", got)
			}
			msg := err.Error()
			for _, s := range tt.errHas {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q\n lacks %q", msg, s)
				}
			}
			// Commands quote their output (sec''ond) so that the command
			// text quoted in the error differs from what they print.
			for _, s := range append(tt.errLacks, "\n") {
				if strings.Contains(msg, s) {
					t.Errorf("error %q\n contains %q", msg, s)
				}
			}
			if errors.Is(err, ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v", !tt.notFound, tt.notFound)
			}
		})
	}
}

func TestPasswordCommandTimeout(t *testing.T) {
	defer func(d time.Duration) { commandTimeout = d }(commandTimeout)
	commandTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err := Password(nil, "work", `sleep 10 & sleep 10`) // a child keeps stdout open
	if err == nil || !strings.Contains(err.Error(), "did not finish within 200ms") {
		t.Errorf("error = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestPasswordNoStore(t *testing.T) {
	if _, err := Password(nil, "work", ""); err == nil || !strings.Contains(err.Error(), "password_command") {
		t.Errorf("error = %v", err)
	}
}

// TestKeyringErrors checks how keyring failures are reported, with fake calls.
func TestKeyringErrors(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/fake") // skip the bus check
	defer func(d time.Duration) { keyringTimeout = d }(keyringTimeout)
	keyringTimeout = 100 * time.Millisecond

	tests := []struct {
		name     string
		f        func() error
		notFound bool
		has      string
	}{
		{"ok", func() error { return nil }, false, ""},
		{"not found", func() error { return keyring.ErrNotFound }, true, `no secret for "account:x"`},
		{"dbus failure", func() error { return errors.New("org.freedesktop.DBus.Error.ServiceUnknown") },
			false, "the system keyring is not available (org.freedesktop.DBus.Error.ServiceUnknown): start a desktop session, or use password_command in the config"},
		{"hang", func() error { time.Sleep(time.Second); return nil },
			false, "the system keyring is not available (no answer within 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := call("account:x", tt.f)
			if tt.has == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.has) {
				t.Errorf("error %v\n lacks %q", err, tt.has)
			}
			if errors.Is(err, ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) wrong for %v", err)
			}
		})
	}
}

func TestKeyringWithoutSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if !noSessionBus() {
		t.Skip("a session bus exists under /run/user")
	}
	_, err := Keyring().Get(Service, KeyFor("x"))
	if err == nil || !strings.Contains(err.Error(), "the system keyring is not available") || errors.Is(err, ErrNotFound) {
		t.Errorf("error = %v", err)
	}
}
