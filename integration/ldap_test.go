package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
	"github.com/orgdav/orgdav/directory"
)

func ldapSourceConfig(s *slapd) directory.LDAPConfig {
	return directory.LDAPConfig{
		Name: "corp", Kind: directory.KindLDAP, URL: s.url, BindDN: serviceDN, Password: servicePass,
		Timeout: 10 * time.Second, PageSize: 100,
		PeopleBases: []string{"ou=people," + suffix}, PeopleScope: ldap.ScopeWholeSubtree,
		PeopleFilter: directory.DefaultPeopleFilter(directory.KindLDAP),
		GroupBases:   []string{"ou=groups," + suffix}, GroupFilter: directory.DefaultGroupFilter(directory.KindLDAP),
		ExcludeOUs:   []string{"ou=service,ou=people," + suffix},
		HiddenFilter: "(employeeType=hidden)", DisabledFilter: "(employeeType=disabled)",
		IDAttribute: "entryUUID", LoginAttributes: []string{"uid", "mail"}, Mapping: directory.DefaultMapping(directory.KindLDAP),
	}
}

func TestLDAPFullImportFromSlapd(t *testing.T) {
	ldif, people := generateOrg(2100)
	srv := startSlapd(t, ldif)
	src := directory.NewLDAPSource(ldapSourceConfig(srv), nil)
	defer src.Close()
	snap, err := src.Snapshot(withTimeout(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := directory.Normalize(snap)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, p := range people {
		if p.kind == "" {
			want++
		}
	}
	if len(pub.People) != want {
		t.Fatalf("published %d people, want %d (paging past the 1000 size limit, hidden and disabled left out)", len(pub.People), want)
	}
	byUser := map[string]directory.Entry{}
	for _, e := range pub.People {
		if _, err := uuid.Parse(e.ID); err != nil {
			t.Fatalf("id %q is not an entryUUID", e.ID)
		}
		byUser[e.Username] = e
	}
	if _, ok := byUser["backup-bot"]; ok {
		t.Error("account in the excluded OU published")
	}
	sales := byUser[people[1].uid]
	if sales.Department != "Sales, EMEA" || sales.GivenName != people[1].given || sales.DisplayName != people[1].given+" "+people[1].family {
		t.Errorf("non-ASCII or comma values mangled: %+v", sales.Person)
	}
	if e := byUser[people[20].uid]; e.ManagerName != byUser[people[4].uid].DisplayName || !byUser[people[4].uid].IsManager {
		t.Errorf("manager not resolved: %q", e.ManagerName)
	}
	groupMembers := map[string]map[string]bool{}
	for _, g := range pub.Groups {
		m := map[string]bool{}
		for _, k := range g.Members {
			m[k] = true
		}
		groupMembers[g.Name] = m
	}
	key := func(i int) string { return byUser[people[i].uid].Key }
	checks := []struct {
		group  string
		member int
	}{{"engineering-all", 0}, {"engineering-all", 8}, {"engineering-all", 16}, {"cycle-a", 2}, {"cycle-b", 1}, {"social", 4}, {"unix-admins", 5}}
	for _, c := range checks {
		if !groupMembers[c.group][key(c.member)] {
			t.Errorf("group %s lacks %s (nesting, cycle, uniqueMember or memberUid)", c.group, people[c.member].uid)
		}
	}
	if len(groupMembers["cycle-b"]) != 2 {
		t.Errorf("cycle-b has %d members, want 2 (dangling member dropped)", len(groupMembers["cycle-b"]))
	}
	if len(groupMembers["Engineering"]) == 0 {
		t.Error("no department group")
	}
	photos := 0
	for _, e := range pub.People {
		if len(e.Photo) > 0 {
			photos++
			if !bytes.HasPrefix(e.Photo, []byte{0xFF, 0xD8}) || bytes.Contains(e.Photo, []byte("secret-location")) || bytes.Contains(e.Photo, []byte("camera owner")) {
				t.Fatal("photo kept its metadata or is not a JPEG")
			}
		}
	}
	if photos < 200 {
		t.Errorf("only %d photos", photos)
	}
	// Without paging the server stops at 1000, as AD does: paging matters.
	c := srv.admin()
	if err := c.Bind(serviceDN, servicePass); err != nil {
		t.Fatal(err)
	}
	_, err = c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=inetOrgPerson)", []string{"1.1"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Errorf("plain search was not size-limited: %v", err)
	}
}

func TestLDAPLoginBindsAsTheUser(t *testing.T) {
	ldif, people := generateOrg(50)
	srv := startSlapd(t, ldif)
	src := directory.NewLDAPSource(ldapSourceConfig(srv), nil)
	defer src.Close()
	ctx := withTimeout(t, time.Minute)
	id, err := src.Login(ctx, people[7].uid, "pw-"+people[7].uid)
	if err != nil || id == "" {
		t.Fatalf("right password: %q %v", id, err)
	}
	if byMail, err := src.Login(ctx, people[7].mails[0], "pw-"+people[7].uid); err != nil || byMail != id {
		t.Fatalf("login by mail: %q %v", byMail, err)
	}
	for _, c := range []struct{ user, pass string }{
		{people[7].uid, "wrong"}, {people[7].uid, ""}, {"nobody", "pw-nobody"},
		{"*", "pw-" + people[7].uid}, {"user0*", "pw-" + people[7].uid}, {people[7].uid + ")(uid=*", "x"},
		{"*)(|(uid=*", "x"}, {people[7].uid + "\x00", "pw-" + people[7].uid}, {"backup-bot", "pw-backup-bot"},
	} {
		if _, err := src.Login(ctx, c.user, c.pass); !errors.Is(err, directory.ErrLoginFailed) {
			t.Errorf("login %q/%q: %v, want ErrLoginFailed", c.user, c.pass, err)
		}
	}
	srv.stop()
	if _, err := src.Login(ctx, people[7].uid, "pw-"+people[7].uid); err == nil || errors.Is(err, directory.ErrLoginFailed) {
		t.Errorf("LDAP down must be an error, not a refusal: %v", err)
	}
}

func TestLDAPOutageMidRunFailsTheWholeRun(t *testing.T) {
	ldif, _ := generateOrg(2000)
	srv := startSlapd(t, ldif)
	cfg := ldapSourceConfig(srv)
	// The source reads through a relay that kills slapd once part of the
	// directory has passed: the server dies mid-read, whatever the speed.
	relay, arm := killingRelay(t, srv, 200<<10)
	cfg.URL = "ldap://" + relay
	cfg.PageSize, cfg.Timeout = 50, 3*time.Second
	src := directory.NewLDAPSource(cfg, nil)
	defer src.Close()
	if _, err := src.Snapshot(withTimeout(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	arm(true)
	start := time.Now()
	snap, err := src.Snapshot(withTimeout(t, time.Minute))
	if err == nil {
		t.Fatalf("the read returned %d people although the server died half-way", len(snap.People))
	}
	t.Logf("run failed as it should after %v: %v", time.Since(start).Round(time.Millisecond), err)

	// The failed read replaced the last one and left nothing half-read:
	// once the server is back, the next incremental run reads everything.
	arm(false)
	srv.start()
	d, changed, err := src.Changes(withTimeout(t, time.Minute), false)
	if err != nil || !changed || d != nil {
		t.Fatalf("incremental run after a failed full read: changed %v, delta %v, err %v", changed, d, err)
	}
	if n := len(src.Current().People); n < 1900 {
		t.Fatalf("after the failed read the source holds %d people", n)
	}
}

// killingRelay forwards loopback connections to srv; once armed, it kills
// slapd when more than limit bytes have come back from it since.
func killingRelay(t *testing.T, srv *slapd, limit int64) (addr string, arm func(bool)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var sent atomic.Int64
	var target atomic.Pointer[os.Process] // the slapd to kill, while armed
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", srv.addr)
			if err != nil {
				client.Close()
				continue
			}
			go func() { io.Copy(server, client); server.Close() }()
			go func() {
				defer client.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := server.Read(buf)
					if n > 0 {
						if sent.Add(int64(n)) > limit {
							if p := target.Swap(nil); p != nil {
								p.Kill()
								return
							}
						}
						if _, werr := client.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func(on bool) {
		sent.Store(0)
		if on {
			target.Store(srv.cmd.Process)
		} else {
			target.Store(nil)
		}
	}
}

func TestLDAPIncrementalReadsChangesAndDeletions(t *testing.T) {
	ldif, people := generateOrg(300)
	srv := startSlapd(t, ldif)
	src := directory.NewLDAPSource(ldapSourceConfig(srv), nil)
	defer src.Close()
	ctx := withTimeout(t, time.Minute)
	first, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, changed, err := src.Changes(ctx, true); err != nil || changed {
		t.Fatalf("no change in LDAP, but changed=%v err=%v", changed, err)
	}
	c := srv.admin()
	mod := ldap.NewModifyRequest(dnOf(people[20]), nil)
	mod.Replace("title", []string{"Chief, Incremental; Officer"})
	must(t, c.Modify(mod))
	must(t, c.ModifyDN(ldap.NewModifyDNRequest(dnOf(people[21]), "uid=renamed-21", true, "ou=Legal,ou=people,"+suffix)))
	must(t, c.Del(ldap.NewDelRequest(dnOf(people[23]), nil)))
	mod = ldap.NewModifyRequest(dnOf(people[24]), nil)
	mod.Replace("employeeType", []string{"hidden"})
	must(t, c.Modify(mod))
	add := ldap.NewAddRequest("uid=inc-new,ou=Finance,ou=people,"+suffix, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"inc-new"})
	add.Attribute("cn", []string{"Inc New"})
	add.Attribute("sn", []string{"New"})
	must(t, c.Add(add))
	mod = ldap.NewModifyRequest("cn=platform,ou=groups,"+suffix, nil)
	mod.Add("member", []string{dnOf(people[30])})
	must(t, c.Modify(mod))

	d, changed, err := src.Changes(ctx, true)
	snap := src.Current()
	if err != nil || !changed || d != nil {
		t.Fatalf("changes: changed=%v delta=%v err=%v; want a change beyond a delta (people joined and left)", changed, d, err)
	}
	pub, _ := directory.Normalize(snap)
	byUser := map[string]directory.Entry{}
	for _, e := range pub.People {
		byUser[e.Username] = e
	}
	if byUser[people[20].uid].Title != "Chief, Incremental; Officer" {
		t.Error("modify not read")
	}
	if e, ok := byUser["renamed-21"]; !ok || e.ID != idOf(first, people[21].uid) {
		t.Error("modrdn with move lost the identity")
	}
	if _, ok := byUser[people[23].uid]; ok {
		t.Error("deletion not noticed")
	}
	if _, ok := byUser[people[24].uid]; ok {
		t.Error("hidden person still published")
	}
	if _, ok := byUser["inc-new"]; !ok {
		t.Error("added person not read")
	}
	platform := false
	for _, g := range pub.Groups {
		if g.Name == "platform" {
			for _, m := range g.Members {
				platform = platform || m == byUser[people[30].uid].Key
			}
		}
	}
	if !platform {
		t.Error("group membership change not read")
	}
	if _, changed, _ := src.Changes(ctx, true); changed {
		t.Error("a second incremental read without LDAP changes reported changes")
	}

	// Edits of people's own attributes come back as a delta of exactly
	// those people, manager resolved, which the runner publishes alone.
	mod = ldap.NewModifyRequest(dnOf(people[42]), nil)
	mod.Replace("title", []string{"Delta Title"})
	must(t, c.Modify(mod))
	mod = ldap.NewModifyRequest(dnOf(people[50]), nil)
	mod.Replace("manager", []string{dnOf(people[3])})
	must(t, c.Modify(mod))
	d, changed, err = src.Changes(ctx, false)
	if err != nil || !changed || d == nil || len(d.Changed) != 2 {
		t.Fatalf("attribute edits: changed=%v delta=%+v err=%v; want a delta of 2 people", changed, d, err)
	}
	got := map[string]directory.PersonChange{}
	for _, pc := range d.Changed {
		got[pc.New.Username] = pc
	}
	if pc := got[people[42].uid]; pc.New.Title != "Delta Title" || pc.Old.Title != people[42].title {
		t.Errorf("title edit in delta: %+v", pc)
	}
	if pc := got[people[50].uid]; pc.New.ManagerID != idOf(first, people[3].uid) || pc.Old.ManagerID != idOf(first, people[50].managerUID) {
		t.Errorf("manager edit in delta: old %q new %q", pc.Old.ManagerID, pc.New.ManagerID)
	}
	if _, changed, _ := src.Changes(ctx, true); changed {
		t.Error("a delta read twice")
	}

	// Deletions leave no change marker: only a sweep finds them.
	must(t, c.Del(ldap.NewDelRequest(dnOf(people[60]), nil)))
	if _, changed, err := src.Changes(ctx, false); err != nil || changed {
		t.Errorf("a run without sweep: changed %v, err %v; a deletion has no marker to find", changed, err)
	}
	d, changed, err = src.Changes(ctx, true)
	if err != nil || !changed || d == nil || len(d.Removed) != 1 || d.Removed[0].Username != people[60].uid || idOf(src.Current(), people[60].uid) != "" {
		t.Errorf("sweep after a deletion: changed %v, delta %+v, err %v; want a delta removing %s", changed, d, err, people[60].uid)
	}
}

func idOf(s directory.Snapshot, uid string) string {
	for _, p := range s.People {
		if p.Username == uid {
			return p.ID
		}
	}
	return ""
}

func TestLDAPIncludeAndExcludeGroupsFollowNesting(t *testing.T) {
	ldif, people := generateOrg(40)
	srv := startSlapd(t, ldif)
	cases := []struct {
		name             string
		include, exclude []string
		want             []int
	}{
		{"include a group with a nested group", []string{"cn=engineering-all,ou=groups," + suffix}, nil, []int{0, 8, 16}},
		{"and exclude the nested one", []string{"cn=engineering-all,ou=groups," + suffix}, []string{"cn=platform,ou=groups," + suffix}, []int{0}},
		{"include a membership loop", []string{"cn=cycle-a,ou=groups," + suffix}, nil, []int{1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ldapSourceConfig(srv)
			cfg.IncludeGroups, cfg.ExcludeGroups = c.include, c.exclude
			src := directory.NewLDAPSource(cfg, nil)
			defer src.Close()
			snap, err := src.Snapshot(withTimeout(t, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, p := range snap.People {
				got[p.Username] = true
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want people %v", got, c.want)
			}
			for _, i := range c.want {
				if !got[people[i].uid] {
					t.Errorf("%s missing", people[i].uid)
				}
			}
		})
	}
}

func TestLDAPPushedChangesArriveWithinSeconds(t *testing.T) {
	ldif, people := generateOrg(300)
	srv := startSlapd(t, ldif)
	src := directory.NewLDAPSource(ldapSourceConfig(srv), nil)
	defer src.Close()
	ctx := withTimeout(t, 2*time.Minute)
	if _, err := src.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	notified := make(chan struct{}, 100)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	opened := make(chan struct{})
	go func() { done <- src.Watch(wctx, func() { close(opened) }, func() { notified <- struct{}{} }) }()
	select {
	case <-opened:
	case err := <-done:
		t.Fatalf("watch ended before the server answered: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not answer the change stream within 10s")
	}
	c := srv.admin()
	mod := ldap.NewModifyRequest(dnOf(people[42]), nil)
	mod.Replace("title", []string{"Pushed, Title"})
	start := time.Now()
	if err := c.Modify(mod); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
	case <-time.After(10 * time.Second):
		t.Fatal("no push within 10s of a modification")
	}
	t.Logf("modification pushed after %v", time.Since(start).Round(time.Millisecond))
	if err := c.Del(ldap.NewDelRequest(dnOf(people[41]), nil)); err != nil {
		t.Fatal(err)
	}
	mod = ldap.NewModifyRequest("cn=platform,ou=groups,"+suffix, nil)
	mod.Add("member", []string{dnOf(people[42])})
	if err := c.Modify(mod); err != nil {
		t.Fatal(err)
	}
	var snap directory.Snapshot
	waitFor(t, "deletion and group change to be pushed", func() bool {
		_, changed, err := src.Changes(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if changed {
			snap = src.Current()
		}
		return idOf(snap, people[41].uid) == "" && len(snap.People) > 0 && memberOf(snap, "platform", idOf(snap, people[42].uid))
	})
	byUser := map[string]directory.Person{}
	for _, p := range snap.People {
		byUser[p.Username] = p
	}
	if byUser[people[42].uid].Title != "Pushed, Title" {
		t.Error("pushed modification not applied")
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("watch ended with %v", err)
	}
}

func memberOf(s directory.Snapshot, group, id string) bool {
	for _, g := range s.Groups {
		if g.Name == group {
			for _, m := range g.Members {
				if m == id {
					return true
				}
			}
		}
	}
	return false
}

func TestLDAPWithoutSyncprovFallsBackToPolling(t *testing.T) {
	ldif, people := generateOrg(20)
	srv := startSlapdWithoutSyncprov(t, ldif)
	src := directory.NewLDAPSource(ldapSourceConfig(srv), nil)
	defer src.Close()
	ctx := withTimeout(t, time.Minute)
	if _, err := src.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := src.Watch(ctx, func() { t.Error("a server without syncprov answered the change stream") }, func() {}); !errors.Is(err, directory.ErrNoPush) {
		t.Fatalf("watch without syncprov: %v, want ErrNoPush", err)
	}
	mod := ldap.NewModifyRequest(dnOf(people[5]), nil)
	mod.Replace("title", []string{"Polled"})
	must(t, srv.admin().Modify(mod))
	_, changed, err := src.Changes(ctx, false)
	snap := src.Current()
	if err != nil || !changed || snap.People[0].ID == "" {
		t.Fatalf("polling after the refusal: %v %v", changed, err)
	}
}
