package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

// loginTimeout bounds a sign-in: long enough to type a password and a
// second factor, short enough that a forgotten command ends.
const loginTimeout = 10 * time.Minute

func (c *command) accountsLogin(args []string) error {
	fs := c.flags("accounts login")
	device := fs.Bool("device", false, "sign in on another device with a code (RFC 8628), for a machine without a browser")
	noTest := fs.Bool("no-test", false, "do not log in to the mail server afterwards")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("accounts login needs one account NAME")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	a, err := cfg.Account(pos[0])
	if err != nil {
		return usageError{err.Error()}
	}
	if !a.AnyOAuth2() {
		return usagef("account %q signs in with a password, not OAuth2: to switch, set auth = \"oauth2\" under [account.imap] and add an [account.oauth2] section with provider = \"microsoft\", \"google\" or \"custom\" (README, \"Signing in with Microsoft or Google\"); to change its password run \"lifeboat accounts add\" again", a.Name)
	}
	return c.signIn(cfg, *a, *device, !*noTest)
}

// signIn runs the browser or device flow for a, checks (test) the mail
// servers with the new token, and keeps the tokens in the keyring.
func (c *command) signIn(cfg *config.Config, a config.Account, device, test bool) error {
	w := c.wiring(cfg)
	p, err := oauthProviderOf(a)
	if err != nil {
		return err
	}
	if err := p.Check(device); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, loginTimeout)
	defer cancel()
	var tok *oauth.Token
	if device {
		tok, err = p.Device(ctx, func(d oauth.DeviceCode) {
			fmt.Fprintf(c.env.Stdout, "To sign in %s with %s, open %s on any device and enter the code %s (valid until %s).\nWaiting for you to finish there (Ctrl-C to stop)…\n",
				a.Name, p.Name, d.URL, d.Code, d.ExpiresAt.Local().Format("15:04"))
		})
	} else {
		tok, err = p.Login(ctx, oauth.Browser{
			Hint: loginHint(a),
			Show: func(u string) {
				fmt.Fprintf(c.env.Stdout, "Opening your browser to sign %s in with %s. If no browser opens, paste this address into one:\n\n  %s\n\nWaiting for the sign-in (Ctrl-C to stop; on a machine without a browser use --device)…\n", a.Name, p.Name, u)
			},
			Open: c.openURL,
		})
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no sign-in within %v: run \"lifeboat accounts login %s\" again (or add --device)", loginTimeout, a.Name)
		}
		return fmt.Errorf("the sign-in of %s did not complete: %w", a.Name, err)
	}
	if test {
		fmt.Fprintf(c.env.Stdout, "Checking the mail servers with the new sign-in… ")
		n, err := w.CheckSignIn(c.ctx, a, tok.AccessToken)
		if err != nil {
			fmt.Fprintln(c.env.Stdout, "failed.")
			return fmt.Errorf("%s signed you in, but the mail server refused the sign-in (the tokens were not kept; was it the account %s?): %v", p.Name, a.IMAP.Username, err)
		}
		if n >= 0 {
			fmt.Fprintf(c.env.Stdout, "ok, %s.\n", plural(n, "folder", "folders"))
		} else {
			fmt.Fprintln(c.env.Stdout, "ok.")
		}
	}

	if err := w.SignedIn(a, tok); err != nil {
		return err
	}
	if test {
		// The account that needed you works again: every process hears it
		// (shared health), so nothing waits on old news.
		tr := c.tracker(cfg)
		for _, o := range wire.SignedInObservations(a) {
			tr.Observe(o)
		}
	}
	fmt.Fprintf(c.env.Stdout, "Signed in: %s's tokens for %s are in the system keyring (never in a file).\n", p.Name, a.Name)
	return nil
}

func oauthProviderOf(a config.Account) (oauth.Provider, error) {
	p, err := wire.OAuthProvider(a)
	if err != nil {
		return p, err
	}
	if p.ClientID == "" {
		return p, fmt.Errorf("account %q: no OAuth2 client ID for %s: this build of Lifeboat has none built in; register one (README, \"Registering an OAuth2 client\") and set client_id = \"...\" under [account.oauth2]", a.Name, p.Name)
	}
	return p, nil
}

// openURL opens u in a browser: Env.OpenURL, else $BROWSER, else the
// system's opener.
func (c *command) openURL(u string) error {
	if c.env.OpenURL != nil {
		return c.env.OpenURL(u)
	}
	var cmd *exec.Cmd
	switch b := os.Getenv("BROWSER"); {
	case strings.TrimSpace(b) != "":
		f := strings.Fields(strings.SplitN(b, string(os.PathListSeparator), 2)[0]) // "firefox:chromium": the first
		cmd = exec.Command(f[0], append(f[1:], u)...)
	case runtime.GOOS == "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it
	return nil
}

// signInState says, for accounts list, whether an OAuth2 account is
// signed in, without asking the provider.
func (c *command) signInState(a config.Account) string {
	p, _ := wire.OAuthProvider(a)
	t, err := wire.TokenStore{Secrets: c.env.Secrets}.Load(a.Name)
	switch {
	case errors.Is(err, oauth.ErrNoToken):
		return fmt.Sprintf("NOT SIGNED IN (run: lifeboat accounts login %s)", a.Name)
	case err != nil:
		return "keyring unavailable"
	case t.Dead != "":
		return fmt.Sprintf("SIGN IN AGAIN: %s (run: lifeboat accounts login %s)", t.Dead, a.Name)
	}
	return "signed in with " + p.Name + " (tokens in keyring)"
}

// loginHint is the address the provider's sign-in page should offer: the
// account's user name, else its email.
func loginHint(a config.Account) string {
	if a.UsesOAuth2() && a.IMAP.Username != "" {
		return a.IMAP.Username
	}
	if a.SMTP != nil && a.SMTP.Username != "" {
		return a.SMTP.Username
	}
	return a.Email
}
