package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

// Outlook.com signs in only with OAuth2: without a client ID (none built
// into a plain build, none given) accounts add says how to get one and
// saves nothing; with --auth password on Outlook.com the configuration is
// a password account as asked.
func TestAccountsAddOAuth2NeedsAClientID(t *testing.T) {
	if oauth.MicrosoftClientID != "" {
		t.Skip("this build has a Microsoft client ID built in")
	}
	h := newHarness(t)
	code, out, errs := h.run("", "accounts", "add", "hotmail", "--email", "jane@outlook.com")
	if code == 0 || !strings.Contains(errs, "client_id") || !strings.Contains(errs, "Registering an OAuth2 client") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "OAuth2") {
		t.Errorf("the provider's note is not shown:\n%s", out)
	}
	if _, err := os.Stat(h.config); err == nil {
		t.Error("a config file was written for an account that could not sign in")
	}
	if n := len(h.secrets.Keys()); n != 0 {
		t.Errorf("%d secrets stored", n)
	}
}

func TestAccountsLoginOfAPasswordAccount(t *testing.T) {
	h := newHarness(t)
	os.WriteFile(h.config, []byte("[[account]]\nname = \"bt\"\nemail = \"a@btinternet.com\"\n[account.imap]\nhost = \"mail.btinternet.com\"\n"), 0o600)
	code, _, errs := h.run("", "accounts", "login", "bt")
	if code != ExitUsage || !strings.Contains(errs, `auth = "oauth2"`) {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, _, errs = h.run("", "accounts", "login", "nope")
	if code != ExitUsage || !strings.Contains(errs, "nope") {
		t.Fatalf("unknown account: exit %d: %s", code, errs)
	}
}
