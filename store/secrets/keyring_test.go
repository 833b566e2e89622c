package secrets

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestRealKeyring talks to the real system keyring. Run it through
// .ci/with-keyring, which starts a private, unlocked gnome-keyring and sets
// LIFEBOAT_KEYRING_TEST=1.
func TestRealKeyring(t *testing.T) {
	if os.Getenv("LIFEBOAT_KEYRING_TEST") != "1" {
		t.Skip("needs a real Secret Service; run via .ci/with-keyring (sets LIFEBOAT_KEYRING_TEST=1)")
	}
	kr := Keyring()
	account := fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano())
	user := KeyFor(account)
	t.Cleanup(func() { _ = kr.Delete(Service, user) })

	if _, err := kr.Get(Service, user); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Set: want ErrNotFound, got %v", err)
	}
	for _, secret := range []string{"first-throwaway", "second throwaway ✓"} { // the second overwrites
		if err := kr.Set(Service, user, secret); err != nil {
			t.Fatalf("Set: %v", err)
		}
		if got, err := kr.Get(Service, user); err != nil || got != secret {
			t.Fatalf("Get after Set(%q) = %q, %v", secret, got, err)
		}
	}
	if got, err := Password(kr, account, ""); err != nil || got != "second throwaway ✓" {
		t.Fatalf("Password = %q, %v", got, err)
	}
	if err := kr.Delete(Service, user); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := kr.Get(Service, user); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: want ErrNotFound, got %v", err)
	}
	if err := kr.Delete(Service, user); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: want ErrNotFound, got %v", err)
	}
}
