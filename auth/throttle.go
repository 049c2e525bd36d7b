package auth

import (
	"container/list"
	"encoding/binary"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits failed logins per client address, and per user name from
// that client. A client whose failure budget is spent is refused before its
// password is checked, so guessing costs time without telling anything.
//
// Only a client's own failures ever refuse it: keying a budget by the user
// name alone would let anyone lock a user out by failing for them, and the
// user's phone, sending the right password, must keep working wherever the
// guesses come from. The directory's own lockout policy, if any, remains
// the defence against guesses spread over many addresses.
type Throttle struct {
	seed maphash.Seed
	now  func() time.Time // nil means time.Now; tests set it

	mu      sync.Mutex
	entries map[uint64]*list.Element
	// inflight counts the password checks under way per key: they may all
	// fail, so each holds a failure of the budget until it ends, and many
	// at once from one client get no more than its budget.
	inflight map[uint64]int
	// order holds *throttleEntry, the most recent failure in front: the
	// back is what is evicted at the cap and first to be full again.
	order list.List
	max   int
}

// throttleEntry is the failure budget of one key, a hash of what it
// counts: the key's length does not depend on the user name a client
// sends, so every entry costs the same.
type throttleEntry struct {
	key uint64
	lim rate.Limiter
}

// budget is how many failures a key may have at once, and how fast one
// comes back.
type budget struct {
	every rate.Limit
	burst int
}

var (
	// A phone with an old password retries a few times; someone guessing
	// one user's password gets one try per 10 s once those are spent.
	pairBudget = budget{rate.Every(10 * time.Second), 5}
	// One client guessing many users' passwords, or guessing while only
	// cached logins can be checked.
	clientBudget = budget{rate.Every(2 * time.Second), 20}
)

// maxThrottleEntries bounds the failure budgets kept, about 180 bytes each.
// Past it the least recently failing key is forgotten: that only ever
// gives a failing client its budget back early, never refuses anyone.
const maxThrottleEntries = 40000

// expirePerFail is how many full-again budgets each failure clears from the
// back, so quiet keys leave without a sweep and no call does more than a
// fixed amount of work.
const expirePerFail = 4

// NewThrottle allows 5 failures per user name from one client, then one
// per 10 s, and 20 per client, then one every 2 s.
func NewThrottle() *Throttle {
	return &Throttle{
		seed:     maphash.MakeSeed(),
		entries:  map[uint64]*list.Element{},
		inflight: map[uint64]int{},
		max:      maxThrottleEntries,
	}
}

func (t *Throttle) clock() time.Time {
	if t.now != nil {
		return t.now()
	}
	return time.Now()
}

// Kinds of key, hashed in first so a client and a pair never share one.
const (
	kindPair byte = iota
	kindClient
)

// userKey folds what a directory ignores when it matches a login name
// (case, surrounding and repeated spaces), so "Dave " is no fresh budget.
func userKey(user string) string {
	return strings.Join(strings.Fields(strings.ToLower(user)), " ")
}

// hash keys by a seeded hash: a client cannot choose names that collide
// with another's budget without knowing the seed.
func (t *Throttle) hash(kind byte, user, ip string) uint64 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteByte(kind)
	// The user's length first: no user and address split the same bytes
	// into another pair.
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(user)))
	h.Write(n[:])
	h.WriteString(user)
	h.WriteString(ip)
	return h.Sum64()
}

func (t *Throttle) pairKey(user, ip string) uint64 { return t.hash(kindPair, userKey(user), ip) }
func (t *Throttle) clientKey(ip string) uint64     { return t.hash(kindClient, "", ip) }

// Blocked reports whether ip has no failures left, for user or in total,
// and how long until one is available again. Failures from other clients
// never count.
func (t *Throttle) Blocked(user, ip string) (bool, time.Duration) {
	pair, client := t.pairKey(user, ip), t.clientKey(ip)
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	wait := max(t.wait(pair, pairBudget, now), t.wait(client, clientBudget, now))
	return wait > 0, wait
}

// wait is how long until key has a failure left, the checks in flight
// counted as failures; 0 if it has one now.
func (t *Throttle) wait(key uint64, b budget, now time.Time) time.Duration {
	tokens, limit := float64(b.burst), b.every
	if el := t.entries[key]; el != nil {
		lim := &el.Value.(*throttleEntry).lim
		tokens, limit = lim.TokensAt(now), lim.Limit()
	}
	if tokens -= float64(t.inflight[key]); tokens >= 1 {
		return 0
	}
	return max(time.Duration((1-tokens)/float64(limit)*float64(time.Second)), time.Nanosecond)
}

// Outcome is how a password check ended, for the budgets.
type Outcome int

const (
	Succeeded Outcome = iota // the password was right: nothing is charged
	Failed                   // wrong: the user's and the client's budgets pay
	Unchecked                // the directory could not check it: the client pays
)

// Begin reserves a failure of ip's budgets, for user and in total, for a
// password check about to start, or reports how long to wait when either
// is spent. end releases the reservation and charges what the outcome
// says; call it once.
func (t *Throttle) Begin(user, ip string) (end func(Outcome), wait time.Duration, ok bool) {
	pair, client := t.pairKey(user, ip), t.clientKey(ip)
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if wait := max(t.wait(pair, pairBudget, now), t.wait(client, clientBudget, now)); wait > 0 {
		return nil, wait, false
	}
	t.inflight[pair]++
	t.inflight[client]++
	return func(o Outcome) {
		var now time.Time
		if o != Succeeded {
			now = t.clock()
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, k := range []uint64{pair, client} {
			if t.inflight[k]--; t.inflight[k] <= 0 {
				delete(t.inflight, k)
			}
		}
		// As Fail and FailClient charge, with the keys already hashed.
		switch o {
		case Failed:
			t.spend(pair, pairBudget, now)
			t.spend(client, clientBudget, now)
		case Unchecked:
			t.spend(client, clientBudget, now)
		}
	}, 0, true
}

// Fail counts a failed login of user from ip.
func (t *Throttle) Fail(user, ip string) {
	pair, client := t.pairKey(user, ip), t.clientKey(ip)
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spend(pair, pairBudget, now)
	t.spend(client, clientBudget, now)
}

// FailClient counts an attempt from ip that could not be checked (the
// directory was down): while it is, cached logins are all a guesser could
// hit, so guesses still cost the client; the user is not blocked by
// someone else's guesses.
func (t *Throttle) FailClient(ip string) {
	client := t.clientKey(ip)
	now := t.clock()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spend(client, clientBudget, now)
}

// spend takes one failure from key's budget, creating it full.
func (t *Throttle) spend(key uint64, b budget, now time.Time) {
	t.expire(now)
	el := t.entries[key]
	switch {
	case el != nil:
		t.order.MoveToFront(el)
	case t.order.Len() >= t.max:
		// Reuse the oldest entry: at the cap, failures allocate nothing.
		el = t.order.Back()
		e := el.Value.(*throttleEntry)
		delete(t.entries, e.key)
		e.key, e.lim = key, *rate.NewLimiter(b.every, b.burst)
		t.entries[key] = el
		t.order.MoveToFront(el)
	default:
		el = t.order.PushFront(&throttleEntry{key: key, lim: *rate.NewLimiter(b.every, b.burst)})
		t.entries[key] = el
	}
	el.Value.(*throttleEntry).lim.AllowN(now, 1)
}

// expire forgets budgets at the back that are full again: they refuse
// nothing, and a key that fails anew starts full anyway.
func (t *Throttle) expire(now time.Time) {
	for range expirePerFail {
		el := t.order.Back()
		if el == nil {
			return
		}
		e := el.Value.(*throttleEntry)
		if e.lim.TokensAt(now) < float64(e.lim.Burst()) {
			return
		}
		delete(t.entries, e.key)
		t.order.Remove(el)
	}
}
