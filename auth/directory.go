package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// LoginSource checks a password against a directory and returns the
// person's directory ID (directory.LDAPSource implements it).
type LoginSource interface {
	Name() string
	Login(ctx context.Context, login, password string) (string, error)
}

// DirectoryAuth logs people in by binding to their directory as them. Only
// people in a source's scope and not disabled get in; hidden people (in no
// book) may log in too.
//
// Phones send credentials with every request, so a verified login is
// trusted for TTL without asking the directory again, under a salted hash
// of user and password: nothing in memory reveals a password. While no
// directory can be reached, a login verified within OutageGrace still
// works, so an outage does not lock out phones that were syncing; a new or
// changed password gets 503 until the directory is back. A directory that
// answers the user's bind with anything but success (a wrong password, a
// locked account) refuses the login whatever was verified before.
type DirectoryAuth struct {
	Sources []LoginSource
	Store   *store.Store
	TTL     time.Duration
	// OutageGrace is how long after its last check a login keeps working
	// while the directory cannot be reached; zero turns it off.
	OutageGrace time.Duration
	// MinFailure is the least time a refusal takes, so an unknown user and
	// a wrong password cannot be told apart by timing.
	MinFailure time.Duration
	// Imported reports whether a source's people have been imported; until
	// then a right password is answered ErrNotReady. Nil: always.
	Imported func(source string) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	once      sync.Once
	salt      [32]byte
	mu        sync.Mutex
	cache     map[[32]byte]verified
	downUntil time.Time // the directory could not be reached: not asked again until then
}

// verified is a login the directory accepted at a time, for the account
// (card name) it named then.
type verified struct {
	user, account string
	at            time.Time
}

// maxLoginCache bounds the verified logins kept.
const maxLoginCache = 50000

// recheck is how long the directory is not asked again after it could
// not be reached: phones in the grace are answered at once meanwhile,
// instead of each waiting for a directory that does not answer.
const recheck = 30 * time.Second

func (a *DirectoryAuth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *DirectoryAuth) key(user, pass string) [32]byte {
	a.once.Do(func() {
		rand.Read(a.salt[:])
		a.cache = map[[32]byte]verified{}
	})
	h := sha256.New()
	h.Write(a.salt[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(pass))
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// keep is how long a verified login is remembered at all.
func (a *DirectoryAuth) keep() time.Duration { return max(a.TTL, a.OutageGrace) }

// lookup finds a verified login the cache holds for the same person
// still: trusted when it needs no directory (within TTL, or in the grace
// while the directory is down), graced when an outage may be ridden out
// with it.
func (a *DirectoryAuth) lookup(k [32]byte, now time.Time) (c verified, trusted, graced bool) {
	a.mu.Lock()
	c, hit := a.cache[k]
	down := now.Before(a.downUntil)
	a.mu.Unlock()
	// The same person must still hold the account: not someone who left,
	// nor a newcomer given a departed colleague's user name.
	hit = hit && a.holds(c)
	graced = hit && now.Sub(c.at) < a.OutageGrace
	// Other logins still ask: another source may be up, and a source that
	// is down fails them at once.
	trusted = hit && (now.Sub(c.at) < a.TTL || down && graced)
	return c, trusted, graced
}

// Cached implements Cacher.
func (a *DirectoryAuth) Cached(user, pass string) (string, bool) {
	c, trusted, _ := a.lookup(a.key(user, pass), a.now())
	return c.user, trusted
}

// Authenticate implements Authenticator.
func (a *DirectoryAuth) Authenticate(ctx context.Context, user, pass string) (string, error) {
	k := a.key(user, pass)
	began, start := time.Now(), a.now()
	c, trusted, graced := a.lookup(k, start)
	if trusted {
		return c.user, nil
	}
	v, err := a.login(ctx, user, pass)
	switch {
	case err == nil:
		if a.keep() > 0 {
			v.at = start
			a.remember(k, v)
		}
		return v.user, nil
	case errors.Is(err, ErrDirectoryUnavailable):
		a.mu.Lock()
		a.downUntil = start.Add(recheck)
		a.mu.Unlock()
		if graced {
			return c.user, nil
		}
	case errors.Is(err, ErrBadCredentials):
		// A password the directory now refuses must not carry anyone
		// through a later outage.
		a.mu.Lock()
		delete(a.cache, k)
		a.mu.Unlock()
		if wait := a.MinFailure - time.Since(began); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
	}
	return "", err
}

func (a *DirectoryAuth) holds(v verified) bool {
	it, ok := a.Store.Index().Account(v.account)
	return ok && it.Username == v.user
}

func (a *DirectoryAuth) remember(k [32]byte, v verified) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= maxLoginCache {
		for ck, cv := range a.cache {
			if v.at.Sub(cv.at) >= a.keep() {
				delete(a.cache, ck)
			}
		}
		if len(a.cache) >= maxLoginCache {
			a.cache = map[[32]byte]verified{}
		}
	}
	a.cache[k] = v
}

func (a *DirectoryAuth) login(ctx context.Context, user, pass string) (verified, error) {
	var unavailable error
	for _, src := range a.Sources {
		id, err := src.Login(ctx, user, pass)
		if errors.Is(err, directory.ErrLoginFailed) {
			continue
		}
		if err != nil {
			unavailable = err
			continue
		}
		account := directory.CardUID(directory.PersonKey(src.Name(), id))
		it, ok := a.Store.Index().Account(account)
		switch {
		case ok && it.Username != "":
			return verified{user: it.Username, account: account}, nil
		case a.Imported != nil && !a.Imported(src.Name()):
			// The password is right; the book is not built yet.
			return verified{}, ErrNotReady
		}
		// Disabled or out of scope: the directory knows the password, but
		// orgdav does not serve this person.
		return verified{}, ErrBadCredentials
	}
	if unavailable != nil {
		return verified{}, errors.Join(ErrDirectoryUnavailable, unavailable)
	}
	return verified{}, ErrBadCredentials
}
