package auth

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// fakeDirectory answers logins as the test says: passwords by login name,
// or down.
type fakeDirectory struct {
	passwords map[string]string // login -> password
	ids       map[string]string // login -> directory ID
	down      bool
	binds     int
}

func (f *fakeDirectory) Name() string { return "corp" }

func (f *fakeDirectory) Login(_ context.Context, login, password string) (string, error) {
	f.binds++
	switch {
	case f.down:
		return "", errors.New("ldap: connect ldap://127.0.0.1:389: connection refused")
	case f.passwords[login] == "" || f.passwords[login] != password:
		return "", directory.ErrLoginFailed
	}
	return f.ids[login], nil
}

func publishPeople(t *testing.T, st *store.Store, people ...directory.Person) {
	pub, err := directory.Normalize(directory.Snapshot{Source: "corp", People: people})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(pub); err != nil {
		t.Fatal(err)
	}
}

func TestDirectoryLoginsAreCachedAndCarryPhonesThroughAnOutage(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := &fakeDirectory{passwords: map[string]string{"alice": "right", "dave": "his"}, ids: map[string]string{"alice": "a", "dave": "d"}}
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	imported := false
	a := &DirectoryAuth{Sources: []LoginSource{dir}, Store: st, TTL: 5 * time.Minute, OutageGrace: 24 * time.Hour,
		Now: func() time.Time { return now }, Imported: func(string) bool { return imported }}
	ctx := context.Background()
	type step struct {
		name       string
		before     func()
		user, pass string
		want       error // nil: logged in
		binds      int   // binds to the directory by this step
	}
	steps := []step{
		{"during the first import the right password waits, not refused", nil, "alice", "right", ErrNotReady, 1},
		{"during the first import a wrong password is refused", nil, "alice", "wrong", ErrBadCredentials, 1},
		{"once imported the right password logs in", func() {
			publishPeople(t, st, directory.Person{ID: "a", Username: "alice", DisplayName: "Alice"})
			imported = true
		}, "alice", "right", nil, 1},
		{"within login_cache no bind is needed", func() { now = now.Add(4 * time.Minute) }, "alice", "right", nil, 0},
		{"a person the directory accepts but orgdav does not serve is refused", nil, "dave", "his", ErrBadCredentials, 1},
		{"after login_cache the directory is asked again", func() { now = now.Add(2 * time.Minute) }, "alice", "right", nil, 1},
		{"while the directory is down a login verified within outage_grace works", func() {
			dir.down = true
			now = now.Add(23 * time.Hour)
		}, "alice", "right", nil, 1},
		{"while it is down a wrong password cannot be checked", nil, "alice", "wrong", ErrDirectoryUnavailable, 1},
		{"nor is a down directory asked again at once for a login in the grace", func() { now = now.Add(10 * time.Second) }, "alice", "right", nil, 0},
		{"past outage_grace the outage shows", func() { now = now.Add(2 * time.Hour) }, "alice", "right", ErrDirectoryUnavailable, 1},
		{"back up: the right password logs in again", func() { dir.down = false; now = now.Add(time.Minute) }, "alice", "right", nil, 1},
		{"a changed password still works within login_cache", func() { dir.passwords["alice"] = "new" }, "alice", "right", nil, 0},
		{"and is refused after it", func() { now = now.Add(6 * time.Minute) }, "alice", "right", ErrBadCredentials, 1},
		{"and the old one does not come back in an outage", func() { dir.down = true }, "alice", "right", ErrDirectoryUnavailable, 1},
		{"a locked account is refused after login_cache, even if the directory goes down later", func() {
			dir.down = false
			a.Authenticate(ctx, "dave", "his")
			publishPeople(t, st, directory.Person{ID: "a", Username: "alice", DisplayName: "Alice"}, directory.Person{ID: "d", Username: "dave", DisplayName: "Dave"})
			a.Authenticate(ctx, "dave", "his")
			dir.passwords["dave"] = "" // the directory refuses dave's bind now
			now = now.Add(6 * time.Minute)
		}, "dave", "his", ErrBadCredentials, 1},
		{"and stays refused in an outage", func() { dir.down = true; now = now.Add(time.Minute) }, "dave", "his", ErrDirectoryUnavailable, 1},
		{"a newcomer given a departed colleague's user name is not logged in by the old password", func() {
			dir.down = false
			dir.passwords["alice"] = "new"
			a.Authenticate(ctx, "alice", "new")
			// alice (a) leaves; another alice (n) arrives; the directory is down.
			publishPeople(t, st, directory.Person{ID: "n", Username: "alice", DisplayName: "Alice Newcomer"})
			dir.down = true
			now = now.Add(time.Hour)
		}, "alice", "new", ErrDirectoryUnavailable, 1},
		{"someone who left the books is not let in from the cache", func() {
			dir.down = false
			a.Authenticate(ctx, "alice", "new")
			publishPeople(t, st, directory.Person{ID: "b", Username: "bob", DisplayName: "Bob"})
			dir.binds = 0
			dir.passwords["alice"] = ""
		}, "alice", "new", ErrBadCredentials, 1},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		dir.binds = 0
		user, err := a.Authenticate(ctx, s.user, s.pass)
		if s.want == nil && (err != nil || user != s.user) || s.want != nil && !errors.Is(err, s.want) || dir.binds != s.binds {
			t.Fatalf("%s: user %q, err %v, %d binds; want %v, %d binds", s.name, user, err, dir.binds, s.want, s.binds)
		}
	}
}

func TestCachedAnswersOnlyWhatNeedsNoDirectory(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	publishPeople(t, st, directory.Person{ID: "a", Username: "alice", DisplayName: "Alice"})
	dir := &fakeDirectory{passwords: map[string]string{"alice": "right"}, ids: map[string]string{"alice": "a"}}
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	a := &DirectoryAuth{Sources: []LoginSource{dir}, Store: st, TTL: 5 * time.Minute, OutageGrace: time.Hour, Now: func() time.Time { return now }}
	if _, ok := a.Cached("alice", "right"); ok {
		t.Fatal("a login never verified is cached")
	}
	a.Authenticate(context.Background(), "alice", "right")
	if user, ok := a.Cached("alice", "right"); !ok || user != "alice" {
		t.Fatal("a login just verified is not cached")
	}
	if _, ok := a.Cached("alice", "wrong"); ok {
		t.Fatal("a wrong password is cached")
	}
	now = now.Add(6 * time.Minute)
	if _, ok := a.Cached("alice", "right"); ok {
		t.Fatal("a login is cached past login_cache while the directory is up")
	}
}
