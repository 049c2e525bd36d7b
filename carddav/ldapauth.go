package carddav

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

// ErrDirectoryUnavailable means no directory could check the password; the
// client is told to retry, not that its password is wrong.
var ErrDirectoryUnavailable = errors.New("directory unavailable")

// LoginSource checks a password against a directory and returns the
// person's directory ID (directory.LDAPSource implements it).
type LoginSource interface {
	Name() string
	Login(ctx context.Context, login, password string) (string, error)
}

// DirectoryAuth logs people in by binding to their directory as them. Only
// people in a source's scope and not disabled get in; hidden people (in no
// book) may log in too. Phones send
// credentials with every request, so successful logins are cached for a
// short time under a salted hash of user and password; nothing in memory
// reveals a password.
type DirectoryAuth struct {
	Sources []LoginSource
	Store   *store.Store
	TTL     time.Duration
	// MinFailure is the least time a refusal takes, so an unknown user and
	// a wrong password cannot be told apart by timing.
	MinFailure time.Duration

	once  sync.Once
	salt  [32]byte
	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	user    string
	expires time.Time
}

const maxLoginCache = 50000

func (a *DirectoryAuth) key(user, pass string) [32]byte {
	a.once.Do(func() {
		rand.Read(a.salt[:])
		a.cache = map[[32]byte]cached{}
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

// Authenticate implements Authenticator.
func (a *DirectoryAuth) Authenticate(ctx context.Context, user, pass string) (string, error) {
	k := a.key(user, pass)
	now := time.Now()
	a.mu.Lock()
	c, hit := a.cache[k]
	a.mu.Unlock()
	if hit && now.Before(c.expires) {
		if _, ok := a.Store.Index().User(c.user); ok {
			return c.user, nil
		}
	}
	canon, err := a.login(ctx, user, pass)
	if err != nil {
		if wait := a.MinFailure - time.Since(now); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		return "", err
	}
	if a.TTL > 0 {
		a.mu.Lock()
		if len(a.cache) >= maxLoginCache {
			for ck, cv := range a.cache {
				if now.After(cv.expires) {
					delete(a.cache, ck)
				}
			}
			if len(a.cache) >= maxLoginCache {
				a.cache = map[[32]byte]cached{}
			}
		}
		a.cache[k] = cached{user: canon, expires: now.Add(a.TTL)}
		a.mu.Unlock()
	}
	return canon, nil
}

func (a *DirectoryAuth) login(ctx context.Context, user, pass string) (string, error) {
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
		it, ok := a.Store.Index().Account(directory.CardUID(directory.PersonKey(src.Name(), id)))
		if !ok || it.Username == "" {
			// Disabled or out of scope: the directory knows the password,
			// but orgdav does not serve this person.
			return "", ErrBadCredentials
		}
		return it.Username, nil
	}
	if unavailable != nil {
		return "", errors.Join(ErrDirectoryUnavailable, unavailable)
	}
	return "", ErrBadCredentials
}
