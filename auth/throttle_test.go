package auth

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// clockedThrottle is a throttle whose clock the test moves.
func clockedThrottle() (*Throttle, *time.Time) {
	t := NewThrottle()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t.now = func() time.Time { return now }
	return t, &now
}

func blocked(th *Throttle, user, ip string) bool {
	b, _ := th.Blocked(user, ip)
	return b
}

func TestThrottleRefusesOnlyTheFailingClient(t *testing.T) {
	th, now := clockedThrottle()
	for i := range 5 {
		if blocked(th, "dave", "192.0.2.66") {
			t.Fatalf("blocked after %d failures; 5 are allowed", i)
		}
		th.Fail("dave", "192.0.2.66")
	}
	b, wait := th.Blocked("dave", "192.0.2.66")
	if !b || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("after 5 failures: blocked %v, wait %v; want blocked for up to 10s", b, wait)
	}
	if !blocked(th, "DAVE", "192.0.2.66") || !blocked(th, " Dave ", "192.0.2.66") {
		t.Fatal("another spelling of the user name is a fresh budget")
	}
	if blocked(th, "dave", "198.51.100.20") {
		t.Fatal("dave is refused from a client that never failed")
	}
	if blocked(th, "erin", "192.0.2.66") {
		t.Fatal("the failing client is refused for another user before its own budget is spent")
	}
	*now = now.Add(10 * time.Second)
	if blocked(th, "dave", "192.0.2.66") {
		t.Fatal("no failure came back after 10s")
	}
	th.Fail("dave", "192.0.2.66")
	if !blocked(th, "dave", "192.0.2.66") {
		t.Fatal("more than one failure came back after 10s")
	}
}

func TestThrottleClientBudgetSpansUsers(t *testing.T) {
	th, now := clockedThrottle()
	users := []string{"alice", "bob", "carol", "dave"}
	for i := range 20 {
		u := users[i%len(users)]
		if blocked(th, u, "192.0.2.66") {
			t.Fatalf("blocked after %d failures over several users; 20 are allowed", i)
		}
		th.Fail(u, "192.0.2.66")
	}
	if !blocked(th, "erin", "192.0.2.66") {
		t.Fatal("a client that failed 20 times may still try a user it never tried")
	}
	if blocked(th, "erin", "198.51.100.20") || blocked(th, "alice", "198.51.100.20") {
		t.Fatal("the sprayed users are refused from another client")
	}
	*now = now.Add(2 * time.Second)
	if blocked(th, "erin", "192.0.2.66") {
		t.Fatal("the client got no failure back after 2s")
	}
}

func TestThrottleFailClientCostsOnlyTheClient(t *testing.T) {
	th, _ := clockedThrottle()
	for range 20 {
		th.FailClient("192.0.2.66")
	}
	if !blocked(th, "dave", "192.0.2.66") {
		t.Fatal("20 unchecked attempts cost the client nothing")
	}
	if blocked(th, "dave", "198.51.100.20") {
		t.Fatal("unchecked attempts from one client refuse the user elsewhere")
	}
}

func TestThrottleForgetsFullBudgets(t *testing.T) {
	th, now := clockedThrottle()
	for i := range 100 {
		th.Fail("dave", netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String())
	}
	if n := th.size(); n != 200 {
		t.Fatalf("%d budgets for 100 clients failing once for one user; want 200", n)
	}
	// Full again after 50s at most; each later failure clears a few.
	*now = now.Add(time.Minute)
	for range 100 {
		th.Fail("dave", "198.51.100.20")
	}
	if n := th.size(); n != 2 {
		t.Fatalf("%d budgets kept; want only the 2 of the client still failing", n)
	}
}

func TestThrottleEvictsTheOldestAtTheCap(t *testing.T) {
	th, now := clockedThrottle()
	th.max = 6
	for range 5 {
		th.Fail("dave", "192.0.2.66")
	}
	*now = now.Add(time.Second)
	th.Fail("erin", "192.0.2.77") // 4 budgets
	*now = now.Add(time.Second)
	th.Fail("erin", "192.0.2.88") // 6
	if th.size() != 6 || !blocked(th, "dave", "192.0.2.66") {
		t.Fatalf("%d budgets, dave blocked %v before the cap", th.size(), blocked(th, "dave", "192.0.2.66"))
	}
	*now = now.Add(time.Second)
	th.Fail("erin", "192.0.2.99")
	if th.size() != 6 {
		t.Fatalf("%d budgets past a cap of 6", th.size())
	}
	if blocked(th, "dave", "192.0.2.66") {
		t.Fatal("the oldest budget was not the one evicted")
	}
	th.Fail("erin", "192.0.2.99")
	th.Fail("erin", "192.0.2.99")
	th.Fail("erin", "192.0.2.99")
	th.Fail("erin", "192.0.2.99")
	if !blocked(th, "erin", "192.0.2.99") {
		t.Fatal("the newest budget was evicted")
	}
}

// The table must stay small and fast however many clients fail: a full
// one used to be swept whole under the lock at every new key.
func TestThrottleTableIsBounded(t *testing.T) {
	const failures = 200_000
	checkCost := func(th *Throttle) time.Duration {
		best := time.Duration(1 << 62)
		for range 5 {
			start := time.Now()
			for range 10_000 {
				if blocked(th, "dave", "198.51.100.20") {
					t.Fatal("a client that never failed is refused")
				}
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	empty := checkCost(NewThrottle())

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	th := NewThrottle()
	for i := range failures {
		th.Fail("dave", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	full := checkCost(th)
	runtime.KeepAlive(th)

	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d failures: %d budgets, heap +%.1f MB; 10,000 checks %v empty, %v full",
		failures, th.size(), float64(grew)/(1<<20), empty, full)
	if n := th.size(); n != maxThrottleEntries {
		t.Errorf("%d budgets; want the cap, %d", n, maxThrottleEntries)
	}
	if grew > 10<<20 {
		t.Errorf("heap grew %.1f MB; want at most 10 MB", float64(grew)/(1<<20))
	}
	if full > 5*empty {
		t.Errorf("checks cost %v on a full table, %v on an empty one; want within 5x", full, empty)
	}
}

// size is the number of budgets kept.
func (t *Throttle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.order.Len()
}
