package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
	"github.com/orgdav/orgdav/directory"
)

const (
	adBase      = "DC=example,DC=test"
	adStaff     = "OU=Staff," + adBase
	adGroups    = "OU=Teams," + adBase
	adAdmin     = "Administrator@example.test"
	adAdminPass = "Adm1n-Secret!"
	adURL       = "ldap://127.0.0.1:389"
)

// sambaDC is a private Samba AD domain controller provisioned in a temp
// dir. AD's LDAP port is fixed at 389, so one runs at a time.
type sambaDC struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	caFile string // the CA of the DC's LDAPS certificate, for dc1.example.test
}

// adHost is the name in the DC's certificate; its address is 127.0.0.1.
const adHost = "dc1.example.test"

func startSamba(t *testing.T) *sambaDC {
	t.Helper()
	need(t, "samba", "samba-ad-dc")
	need(t, "samba-tool", "samba-ad-provision")
	if c, err := net.DialTimeout("tcp", "127.0.0.1:389", time.Second); err == nil {
		c.Close()
		t.Fatal("something already listens on 127.0.0.1:389; Samba AD needs that port")
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.conf")
	os.WriteFile(empty, nil, 0o600)
	prov := exec.Command("samba-tool", "domain", "provision", "-s", empty, "--targetdir="+dir, "--realm=EXAMPLE.TEST",
		"--domain=EXAMPLE", "--server-role=dc", "--dns-backend=NONE", "--host-name=dc1", "--host-ip=127.0.0.1",
		"--adminpass="+adAdminPass, "--option=interfaces = 127.0.0.1", "--option=bind interfaces only = yes")
	if out, err := prov.CombinedOutput(); err != nil {
		t.Fatalf("samba-tool domain provision: %v\n%s", err, out)
	}
	caFile, cert, key := testCA(t, dir, adHost)
	conf := filepath.Join(dir, "etc", "smb.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "server services =") {
			// No dnsupdate: it would send DNS updates off this machine.
			// A certificate from a CA, as a real DC has: Samba's own names
			// its host only in the CN and often has a negative serial
			// number, both of which Go's TLS refuses.
			l = "\tserver services = ldap, cldap, kdc, rpc, drepl\n\tdisable netbios = yes\n\tldap server require strong auth = no\n" +
				"\tpid directory = " + dir + "/run\n\twinbindd socket directory = " + dir + "/run/winbindd\n\tntp signd socket directory = " + dir + "/run/ntp\n" +
				"\ttls enabled = yes\n\ttls certfile = " + cert + "\n\ttls keyfile = " + key + "\n\ttls cafile = " + caFile
		}
		out = append(out, l)
	}
	os.WriteFile(conf, []byte(strings.Join(out, "\n")), 0o600)
	for _, d := range []string{"run", "log"} {
		os.MkdirAll(filepath.Join(dir, d), 0o700)
	}
	s := &sambaDC{t: t, dir: dir, caFile: caFile}
	s.cmd = exec.Command("samba", "-F", "-M", "single", "-s", conf, "-l", filepath.Join(dir, "log"))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var logs bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &logs, &logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := ldap.DialURL(adURL); err == nil {
			_, err = c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"defaultNamingContext"}, nil))
			c.Close()
			if err == nil {
				return s
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("samba did not answer within 60s:\n%s", logs.String())
	return nil
}

// stop ends the whole process group by its leader's PID.
func (s *sambaDC) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// admin binds as the domain administrator over LDAPS, which AD requires to
// set passwords.
func (s *sambaDC) admin() *ldap.Conn {
	s.t.Helper()
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := ldap.DialURL("ldaps://127.0.0.1:636", ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: adHost}))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Bind(adAdmin, adAdminPass); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

func adPassword(p string) string {
	u := utf16.Encode([]rune(`"` + p + `"`))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return string(b)
}

type adUser struct {
	sam, given, family, dept string
	disabled, hidden, photo  bool
	manager                  string
}

func adDN(sam string) string { return "CN=" + ldap.EscapeDN(sam) + "," + adStaff }

func (s *sambaDC) addUser(c *ldap.Conn, u adUser) {
	s.t.Helper()
	a := ldap.NewAddRequest(adDN(u.sam), nil)
	a.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	a.Attribute("sAMAccountName", []string{u.sam})
	a.Attribute("userPrincipalName", []string{u.sam + "@example.test"})
	a.Attribute("givenName", []string{u.given})
	a.Attribute("sn", []string{u.family})
	a.Attribute("displayName", []string{u.given + " " + u.family})
	a.Attribute("mail", []string{u.sam + "@example.test"})
	a.Attribute("telephoneNumber", []string{"+1 555 0100"})
	a.Attribute("department", []string{u.dept})
	a.Attribute("company", []string{"Example, Inc."})
	a.Attribute("title", []string{"Engineer; Level 2"})
	a.Attribute("unicodePwd", []string{adPassword("Pw-" + u.sam + "!")})
	uac := "512"
	if u.disabled {
		uac = "514"
	}
	a.Attribute("userAccountControl", []string{uac})
	if u.hidden {
		a.Attribute("employeeType", []string{"hidden"})
	}
	if u.manager != "" {
		a.Attribute("manager", []string{adDN(u.manager)})
	}
	if u.photo {
		a.Attribute("thumbnailPhoto", []string{string(metadataJPEG())})
	}
	if err := c.Add(a); err != nil {
		s.t.Fatalf("add %s: %v", u.sam, err)
	}
}

func adSourceConfig() directory.LDAPConfig {
	return directory.LDAPConfig{
		Name: "ad", Kind: directory.KindAD, URL: adURL, BindDN: adAdmin, Password: adAdminPass,
		Timeout: 20 * time.Second, PageSize: 25,
		// The domain root: its subtree search returns a referral to
		// CN=Configuration, which must be skipped.
		PeopleBases: []string{adBase}, PeopleScope: ldap.ScopeWholeSubtree,
		PeopleFilter: directory.DefaultPeopleFilter(directory.KindAD),
		GroupBases:   []string{adGroups}, GroupFilter: directory.DefaultGroupFilter(directory.KindAD),
		HiddenFilter: "(employeeType=hidden)", IncludeContacts: true,
		IDAttribute: "objectGUID", LoginAttributes: []string{"sAMAccountName", "userPrincipalName"},
		Mapping: directory.DefaultMapping(directory.KindAD),
	}
}

func TestActiveDirectoryFromSambaDC(t *testing.T) {
	dc := startSamba(t)
	c := dc.admin()
	for _, ou := range []string{adStaff, adGroups} {
		a := ldap.NewAddRequest(ou, nil)
		a.Attribute("objectClass", []string{"organizationalUnit"})
		if err := c.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	users := []adUser{{sam: "boss", given: "Björn", family: "Åberg", dept: "Engineering"}}
	for i := 1; i < 60; i++ {
		users = append(users, adUser{sam: fmt.Sprintf("u%02d", i), given: "Zoë", family: fmt.Sprintf("Nowak-%d", i),
			dept: []string{"Engineering", "Sales, EMEA"}[i%2], manager: "boss", photo: i%10 == 0,
			disabled: i == 7, hidden: i == 8})
	}
	for _, u := range users {
		dc.addUser(c, u)
	}
	group := func(name string, members ...string) {
		a := ldap.NewAddRequest("CN="+name+","+adGroups, nil)
		a.Attribute("objectClass", []string{"top", "group"})
		a.Attribute("sAMAccountName", []string{name})
		a.Attribute("member", members)
		if err := c.Add(a); err != nil {
			t.Fatalf("group %s: %v", name, err)
		}
	}
	group("platform", adDN("u01"), adDN("u02"))
	group("engineering", adDN("boss"), "CN=platform,"+adGroups)
	group("loop-a", adDN("u03"))
	group("loop-b", adDN("u04"), "CN=loop-a,"+adGroups)
	mod := ldap.NewModifyRequest("CN=loop-a,"+adGroups, nil)
	mod.Add("member", []string{"CN=loop-b," + adGroups})
	if err := c.Modify(mod); err != nil {
		t.Fatal(err)
	}

	contact := ldap.NewAddRequest("CN=Supplier Contact,"+adStaff, nil)
	contact.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "contact"})
	contact.Attribute("displayName", []string{"Supplier Contact"})
	contact.Attribute("mail", []string{"sales@supplier.example"})
	if err := c.Add(contact); err != nil {
		t.Fatal(err)
	}
	src := directory.NewLDAPSource(adSourceConfig(), nil)
	defer src.Close()
	ctx := withTimeout(t, 2*time.Minute)
	snap, err := src.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := directory.Normalize(snap)
	if err != nil {
		t.Fatal(err)
	}
	byUser := map[string]directory.Entry{}
	for _, e := range pub.People {
		byUser[e.Username] = e
	}
	// 60 users, less one disabled and one hidden, plus the accounts every
	// domain has in its root: Administrator and provisioning's dns-dc1
	// (Guest and krbtgt are disabled), plus the contact (no login name).
	if len(pub.People) != 61 || byUser["Administrator"].ID == "" || byUser["dns-dc1"].ID == "" || byUser[""].DisplayName != "Supplier Contact" {
		names := []string{}
		for u := range byUser {
			names = append(names, u)
		}
		t.Fatalf("published %d people, want 61: %v", len(pub.People), names)
	}
	if _, ok := byUser["u07"]; ok {
		t.Error("disabled account (userAccountControl bit 2) published")
	}
	for _, u := range []string{"krbtgt", "Guest", "u08"} {
		if _, ok := byUser[u]; ok {
			t.Errorf("%s published (disabled or hidden)", u)
		}
	}
	// The canonical GUID string is the one AD itself resolves.
	boss := byUser["boss"]
	res, err := c.Search(ldap.NewSearchRequest("<GUID="+boss.ID+">", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"sAMAccountName"}, nil))
	if err != nil || len(res.Entries) != 1 || res.Entries[0].GetAttributeValue("sAMAccountName") != "boss" {
		t.Fatalf("objectGUID %s is not the canonical form: %v", boss.ID, err)
	}
	if boss.GivenName != "Björn" || byUser["u01"].Department != "Sales, EMEA" || byUser["u02"].ManagerName != "Björn Åberg" {
		t.Errorf("mapping: %+v / %+v", boss.Person, byUser["u02"].Person)
	}
	if p := byUser["u10"].Photo; len(p) == 0 || bytes.Contains(p, []byte("secret-location")) {
		t.Error("thumbnailPhoto missing or with metadata")
	}
	members := map[string]map[string]bool{}
	for _, g := range pub.Groups {
		members[g.Name] = map[string]bool{}
		for _, m := range g.Members {
			members[g.Name][m] = true
		}
	}
	if !members["engineering"][byUser["u01"].Key] || !members["engineering"][boss.Key] {
		t.Error("nested AD group not resolved")
	}
	if !members["loop-a"][byUser["u04"].Key] || !members["loop-b"][byUser["u03"].Key] {
		t.Error("membership loop not resolved")
	}

	// include_groups resolved by the server's in-chain rule, through the
	// nested group platform; the group's own base is not even read.
	scoped := adSourceConfig()
	scoped.IncludeGroups = []string{"CN=engineering," + adGroups}
	scoped.GroupBases = nil
	ssrc := directory.NewLDAPSource(scoped, nil)
	defer ssrc.Close()
	ssnap, err := ssrc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, p := range ssnap.People {
		in = append(in, p.Username)
	}
	sort.Strings(in)
	if strings.Join(in, ",") != "boss,u01,u02" {
		t.Errorf("people in engineering (nested, in-chain): %v", in)
	}

	for _, l := range []struct{ user, pass string }{{"u05", "Pw-u05!"}, {"u05@example.test", "Pw-u05!"}} {
		if id, err := src.Login(ctx, l.user, l.pass); err != nil || id != byUser["u05"].ID {
			t.Errorf("login %s: %q %v", l.user, id, err)
		}
	}
	for _, l := range []struct{ user, pass string }{{"u05", "wrong"}, {"nobody", "Pw-nobody!"}, {"*", "Pw-u05!"}, {"u0*", "Pw-u05!"}} {
		if _, err := src.Login(ctx, l.user, l.pass); !errors.Is(err, directory.ErrLoginFailed) {
			t.Errorf("login %s/%s: %v, want refusal", l.user, l.pass, err)
		}
	}
	// A disabled account cannot bind (AD answers 49, data 533).
	if _, err := src.Login(ctx, "u07", "Pw-u07!"); !errors.Is(err, directory.ErrLoginFailed) {
		t.Errorf("disabled account login: %v", err)
	}

	// Incremental: uSNChanged finds the change, the ID listing the deletion.
	mod = ldap.NewModifyRequest(adDN("u11"), nil)
	mod.Replace("title", []string{"Director, AD"})
	if err := c.Modify(mod); err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ldap.NewDelRequest(adDN("u12"), nil)); err != nil {
		t.Fatal(err)
	}
	dc.addUser(c, adUser{sam: "late", given: "Late", family: "Joiner", dept: "Sales, EMEA"})
	_, changed, err := src.Changes(ctx, true)
	snap = src.Current()
	if err != nil || !changed {
		t.Fatalf("incremental: %v %v", changed, err)
	}
	got := map[string]directory.Person{}
	for _, p := range snap.People {
		got[p.Username] = p
	}
	if got["u11"].Title != "Director, AD" {
		t.Error("uSNChanged did not bring the modification")
	}
	if _, ok := got["u12"]; ok {
		t.Error("deletion not noticed")
	}
	if _, ok := got["late"]; !ok {
		t.Error("new account not read")
	}
	if _, changed, err := src.Changes(ctx, true); err != nil || changed {
		t.Errorf("no change in AD, but changed=%v err=%v", changed, err)
	}

	// A rename: AD's groups and managers follow it (linked values) without
	// their own entries changing, so the renamed boss stays in the
	// engineering group and stays everyone's manager.
	bossID := idOf(snap, "boss")
	if err := c.ModifyDN(ldap.NewModifyDNRequest(adDN("boss"), "CN=big-boss", true, "")); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := src.Changes(ctx, true); err != nil || !changed {
		t.Fatalf("rename: changed %v, err %v", changed, err)
	}
	renamed, err := directory.Normalize(src.Current())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range renamed.Groups {
		if g.Name == "engineering" && !slices.Contains(g.Members, directory.PersonKey("ad", bossID)) {
			t.Errorf("renamed boss left the engineering group: %v", g.Members)
		}
	}
	for _, e := range renamed.People {
		if e.Username == "u02" && e.ManagerID != bossID {
			t.Errorf("u02's manager after the boss's rename: %q, want %q", e.ManagerID, bossID)
		}
	}

	// Scoped to OU=Staff: a move out of the OU and a deletion, seen from
	// the change markers and the tombstones, without listing everyone.
	staff := adSourceConfig()
	staff.PeopleBases = []string{adStaff}
	stsrc := directory.NewLDAPSource(staff, nil)
	defer stsrc.Close()
	if _, err := stsrc.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ModifyDN(ldap.NewModifyDNRequest(adDN("u13"), "CN=u13", true, "CN=Users,"+adBase)); err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ldap.NewDelRequest(adDN("u14"), nil)); err != nil {
		t.Fatal(err)
	}
	_, changed, err = stsrc.Changes(ctx, true)
	snap = stsrc.Current()
	if err != nil || !changed {
		t.Fatalf("scoped incremental: %v %v", changed, err)
	}
	left := map[string]bool{}
	for _, p := range snap.People {
		left[p.Username] = true
	}
	if left["u13"] || left["u14"] || !left["u15"] {
		t.Errorf("move out of scope or deletion missed: u13 %v, u14 %v, u15 %v", left["u13"], left["u14"], left["u15"])
	}

	// An ordinary account as the service account: whether or not it may
	// read tombstones, a deletion is noticed.
	plain := staff
	plain.BindDN, plain.Password = "u20@example.test", "Pw-u20!"
	psrc := directory.NewLDAPSource(plain, nil)
	defer psrc.Close()
	if _, err := psrc.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ldap.NewDelRequest(adDN("u16"), nil)); err != nil {
		t.Fatal(err)
	}
	_, changed, err = psrc.Changes(ctx, true)
	snap = psrc.Current()
	if err != nil || !changed || idOf(snap, "u16") != "" {
		t.Errorf("deletion with an ordinary bind account: changed %v, err %v", changed, err)
	}
}
