package engine

import (
	"context"
	"fmt"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

// SignIn signs an OAuth2 account in again with the browser flow (b opens
// the browser and shows the address), keeps the new tokens in the keyring,
// and backs the account up at once, so that its state shows the sign-in
// worked. Call it off the UI goroutine: it waits for the browser.
func (e *Engine) SignIn(ctx context.Context, account string, b oauth.Browser) error {
	w := e.wiring()
	a, err := w.Config.Account(account)
	if err != nil {
		return err
	}
	if !a.AnyOAuth2() {
		return fmt.Errorf("%s signs in with a password, not with OAuth2", account)
	}
	p, err := wire.OAuthProvider(*a)
	if err != nil {
		return err
	}
	b.Hint = a.IMAP.Username
	tok, err := p.Login(ctx, b)
	if err != nil {
		return err
	}
	if _, err := w.CheckSignIn(ctx, *a, tok.AccessToken); err != nil {
		return fmt.Errorf("%s signed you in, but the mail server refused it (was it %s?): %v", p.Name, a.IMAP.Username, err)
	}
	if err := w.SignedIn(*a, tok); err != nil {
		return err
	}
	for _, o := range wire.SignedInObservations(*a) {
		e.tracker.Observe(o)
	}
	e.BackupNow(account)
	return nil
}
