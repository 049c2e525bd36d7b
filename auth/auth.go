// Package auth decides who may log in, once for every surface that asks
// (CardDAV today; the admin API and console later): the demo's shared
// password, or a bind to the person's directory, with a cache of verified
// logins that also carries phones through a directory outage, and a
// throttle for failed attempts.
package auth

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/orgdav/orgdav/store"
)

// Authenticator checks a login and returns the canonical user name.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (string, error)
}

var (
	// ErrBadCredentials is the one answer for an unknown user and a wrong
	// password alike, so responses do not reveal which accounts exist.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrDirectoryUnavailable means no directory could check the password;
	// the client is told to retry, not that its password is wrong.
	ErrDirectoryUnavailable = errors.New("directory unavailable")
	// ErrNotReady means the directory accepted the password but its people
	// are not imported yet (the first run is still reading): the client is
	// told to retry, not that its password is wrong.
	ErrNotReady = errors.New("the directory is still being imported")
)

// Cacher is an Authenticator that can tell, without asking anyone, that a
// login is one it verified recently. Such logins skip the throttle, which
// is for checks that may fail: a phone sending its right password many
// times at once is never refused.
type Cacher interface {
	Cached(username, password string) (string, bool)
}

// DemoAuth accepts every published person of the store with one shared
// password: the demo directory's login.
type DemoAuth struct {
	Store    *store.Store
	Password string
}

// Authenticate implements Authenticator.
func (a DemoAuth) Authenticate(_ context.Context, username, password string) (string, error) {
	if user, ok := a.Cached(username, password); ok {
		return user, nil
	}
	return "", ErrBadCredentials
}

// Cached implements Cacher: the demo's check needs no one.
func (a DemoAuth) Cached(username, password string) (string, bool) {
	ok := subtle.ConstantTimeCompare([]byte(password), []byte(a.Password)) == 1
	it, found := a.Store.Index().User(username)
	if !ok || !found {
		return "", false
	}
	return it.Username, true
}
