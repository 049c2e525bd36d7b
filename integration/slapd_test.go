package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

const (
	suffix    = "dc=example,dc=com"
	adminDN   = "cn=admin," + suffix
	adminPass = "admin-secret"

	serviceDN   = "cn=orgdav,ou=services," + suffix
	servicePass = "svc-secret"
)

// slapd is a private OpenLDAP server in a temp dir on a free loopback port.
type slapd struct {
	t       testing.TB
	dir     string
	url     string
	addr    string
	tlsAddr string // also serving ldaps:// when set
	cmd     *exec.Cmd
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// slapdConfig behaves like AD where it matters: plain searches stop at
// 1000 entries, paged ones return everything; anonymous users may only
// bind; users read everything but passwords.
const slapdConfig = `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: DIR/slapd.pid

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file:///etc/ldap/schema/nis.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: size.soft=1000 size.hard=1000 size.pr=unlimited size.prtotal=unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: DIR/data
olcSuffix: dc=example,dc=com
olcRootDN: cn=admin,dc=example,dc=com
olcRootPW: admin-secret
olcDbMaxSize: 4294967296
olcSizeLimit: size.soft=1000 size.hard=1000 size.pr=unlimited size.prtotal=unlimited
olcDbIndex: objectClass eq
olcDbIndex: entryUUID,entryCSN eq
olcDbIndex: uid,mail eq
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by users read by * none

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
`

// startSlapd creates, loads and starts a private slapd; it is stopped by
// its PID when the test ends.
func startSlapd(t *testing.T, data string) *slapd {
	t.Helper()
	need(t, "slapd", "slapd")
	need(t, "slapadd", "slapd")
	if _, err := os.Stat("/usr/lib/ldap/back_mdb.so"); err != nil {
		need(t, "slapd-modules-missing", "slapd")
	}
	return startSlapdB(t, data)
}

// startSlapdB starts slapd for a test or benchmark whose prerequisites
// are checked.
func startSlapdB(t testing.TB, data string) *slapd {
	return startSlapdWith(t, data, "")
}

// startSlapdWithoutSyncprov runs a server that cannot push changes.
func startSlapdWithoutSyncprov(t *testing.T, data string) *slapd {
	t.Helper()
	need(t, "slapd", "slapd")
	return startSlapdWith(t, data, noSyncprov)
}

// noSyncprov, given as tlsConfig, drops the syncprov overlay.
const noSyncprov = "#no-syncprov\n"

// startSlapdWith starts slapd; tlsConfig holds cn=config TLS attribute
// lines, and then slapd also listens for ldaps://.
func startSlapdWith(t testing.TB, data, tlsConfig string) *slapd {
	t.Helper()
	if _, err := exec.LookPath("slapd"); err != nil {
		t.Skip("slapd is not installed (Debian package slapd)")
	}
	dir := t.TempDir()
	for _, d := range []string{"slapd.d", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "config.ldif")
	conf := strings.ReplaceAll(slapdConfig, "DIR", dir)
	if tlsConfig == noSyncprov {
		conf = conf[:strings.Index(conf, "dn: olcOverlay={0}syncprov")]
		tlsConfig = ""
	}
	if tlsConfig != "" {
		conf = strings.Replace(conf, "olcPidFile: "+dir+"/slapd.pid\n", "olcPidFile: "+dir+"/slapd.pid\n"+tlsConfig, 1)
	}
	os.WriteFile(cfg, []byte(conf), 0o600)
	run := func(name string, args ...string) {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("slapadd", "-n0", "-F", filepath.Join(dir, "slapd.d"), "-l", cfg)
	dataFile := filepath.Join(dir, "data.ldif")
	os.WriteFile(dataFile, []byte(data), 0o600)
	run("slapadd", "-q", "-w", "-n1", "-F", filepath.Join(dir, "slapd.d"), "-l", dataFile)
	s := &slapd{t: t, dir: dir}
	if tlsConfig != "" {
		s.tlsAddr = freePort(t)
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *slapd) start() {
	s.t.Helper()
	if s.addr == "" {
		s.addr = freePort(s.t)
	}
	s.url = "ldap://" + s.addr
	urls := s.url + "/"
	if s.tlsAddr != "" {
		urls += " ldaps://" + s.tlsAddr + "/"
	}
	s.cmd = exec.Command("slapd", "-d", "0", "-h", urls, "-F", filepath.Join(s.dir, "slapd.d"))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := ldap.DialURL(s.url); err == nil {
			err = c.Bind(adminDN, adminPass)
			c.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	s.t.Fatalf("slapd did not answer within 20s:\n%s", out.String())
}

// stop ends slapd by PID and waits for it.
func (s *slapd) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// admin returns a connection bound as the root DN, for changes in tests.
func (s *slapd) admin() *ldap.Conn {
	s.t.Helper()
	c, err := ldap.DialURL(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := c.Bind(adminDN, adminPass); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// ldifValue writes an attribute line, base64 when LDIF needs it.
func ldifValue(b *strings.Builder, attr string, v []byte) {
	safe := utf8.Valid(v) && len(v) > 0 && v[0] != ' ' && v[0] != ':' && v[0] != '<' && v[len(v)-1] != ' '
	for _, c := range v {
		if c < 0x20 || c >= 0x7f {
			safe = false
		}
	}
	if safe {
		fmt.Fprintf(b, "%s: %s\n", attr, v)
	} else {
		fmt.Fprintf(b, "%s:: %s\n", attr, base64.StdEncoding.EncodeToString(v))
	}
}

type orgPerson struct {
	uid, given, family, dept, title, managerUID, kind string // kind: "", hidden, disabled
	photo                                             bool
	mails                                             []string
}

// dnOf is a person's DN; departments with commas exercise DN escaping.
func dnOf(p orgPerson) string {
	return "uid=" + ldap.EscapeDN(p.uid) + ",ou=" + ldap.EscapeDN(p.dept) + ",ou=people," + suffix
}

// departmentCode is the code a directory keeps beside a department's name.
func departmentCode(dept string) string {
	for i, d := range orgDepartments {
		if d == dept {
			return fmt.Sprintf("D%d00", i+1)
		}
	}
	return "D000"
}

var orgDepartments = []string{"Engineering", "Sales, EMEA", "Marketing", "Finance", "Support; L2", "Research", "Legal", "Operations"}

var orgGiven = []string{"Anna", "Jürgen", "Łukasz", "Zoë", "José", "美咲", "محمد", "Olivia", "Noah", "Émile"}
var orgFamily = []string{"Müller", "O'Brien", "Kowalczyk", "Smith, Jr.", "Straße", "山田", "العلي", "Dubois", "Nakamura", "Åberg"}

// generateOrg builds n people with departments (one OU each), managers,
// photos with metadata, hidden, disabled and excluded accounts, and groups
// with nesting, a membership cycle, a dangling member, a posixGroup and a
// groupOfUniqueNames.
func generateOrg(n int) (ldif string, people []orgPerson) {
	var b strings.Builder
	b.WriteString("dn: " + suffix + "\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n")
	b.WriteString("dn: ou=people," + suffix + "\nobjectClass: organizationalUnit\nou: people\n\n")
	b.WriteString("dn: ou=groups," + suffix + "\nobjectClass: organizationalUnit\nou: groups\n\n")
	b.WriteString("dn: ou=service,ou=people," + suffix + "\nobjectClass: organizationalUnit\nou: service\n\n")
	b.WriteString("dn: ou=services," + suffix + "\nobjectClass: organizationalUnit\nou: services\n\n")
	b.WriteString("dn: " + serviceDN + "\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: orgdav\nuserPassword: " + servicePass + "\n\n")
	for _, d := range orgDepartments {
		b.WriteString("dn: ou=" + ldap.EscapeDN(d) + ",ou=people," + suffix + "\n")
		ldifValue(&b, "objectClass", []byte("organizationalUnit"))
		ldifValue(&b, "ou", []byte(d))
		b.WriteString("\n")
	}
	photo := metadataJPEG()
	for i := 0; i < n; i++ {
		p := orgPerson{uid: fmt.Sprintf("user%05d", i), given: orgGiven[i%len(orgGiven)], family: orgFamily[(i/10)%len(orgFamily)],
			dept: orgDepartments[i%len(orgDepartments)], title: "Engineer, Level " + fmt.Sprint(1+i%3), photo: i%9 == 0}
		switch {
		case i < len(orgDepartments):
			p.title = "Head of " + p.dept
		default:
			p.managerUID = fmt.Sprintf("user%05d", i%len(orgDepartments))
		}
		if i%97 == 40 {
			p.kind = "hidden"
		} else if i%89 == 41 {
			p.kind = "disabled"
		}
		p.mails = []string{p.uid + "@example.com"}
		if i%5 == 0 {
			p.mails = append(p.mails, p.uid+".alias@example.com")
		}
		people = append(people, p)
		writePerson(&b, p, photo)
	}
	// An account in an excluded OU.
	b.WriteString("dn: uid=backup-bot,ou=service,ou=people," + suffix + "\nobjectClass: inetOrgPerson\nuid: backup-bot\ncn: Backup Bot\nsn: Bot\nuserPassword: pw-backup-bot\n\n")
	member := func(i int) string { return "member: " + dnOf(people[i]) + "\n" }
	b.WriteString("dn: cn=platform,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: platform\n" + member(8) + member(16) + "\n")
	b.WriteString("dn: cn=engineering-all,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: engineering-all\n" + member(0) + "member: cn=platform,ou=groups," + suffix + "\n\n")
	b.WriteString("dn: cn=cycle-a,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: cycle-a\n" + member(1) + "member: cn=cycle-b,ou=groups," + suffix + "\n\n")
	b.WriteString("dn: cn=cycle-b,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: cycle-b\n" + member(2) + "member: cn=cycle-a,ou=groups," + suffix + "\nmember: uid=ghost,ou=people," + suffix + "\n\n")
	b.WriteString("dn: cn=social,ou=groups," + suffix + "\nobjectClass: groupOfUniqueNames\ncn: social\nuniqueMember: " + dnOf(people[3]) + "\nuniqueMember: " + dnOf(people[4]) + "#'0101'B\n\n")
	b.WriteString("dn: cn=unix-admins,ou=groups," + suffix + "\nobjectClass: posixGroup\ncn: unix-admins\ngidNumber: 5000\nmemberUid: " + people[5].uid + "\nmemberUid: nobody-here\n\n")
	return b.String(), people
}

func writePerson(b *strings.Builder, p orgPerson, photo []byte) {
	b.WriteString("dn: ")
	if dn := dnOf(p); utf8.ValidString(dn) && !strings.ContainsFunc(dn, func(r rune) bool { return r >= 0x7f }) {
		b.WriteString(dn + "\n")
	} else {
		b.WriteString(": " + base64.StdEncoding.EncodeToString([]byte(dn)) + "\n")
	}
	b.WriteString("objectClass: inetOrgPerson\n")
	ldifValue(b, "uid", []byte(p.uid))
	ldifValue(b, "cn", []byte(p.given+" "+p.family))
	ldifValue(b, "givenName", []byte(p.given))
	ldifValue(b, "sn", []byte(p.family))
	ldifValue(b, "displayName", []byte(p.given+" "+p.family))
	for _, m := range p.mails {
		ldifValue(b, "mail", []byte(m))
	}
	ldifValue(b, "telephoneNumber", []byte("+1 555 "+p.uid[4:]))
	ldifValue(b, "mobile", []byte("+49 151 "+p.uid[4:]))
	ldifValue(b, "title", []byte(p.title))
	// As directories hold them: the name in ou, a code in departmentNumber.
	ldifValue(b, "ou", []byte(p.dept))
	ldifValue(b, "departmentNumber", []byte(departmentCode(p.dept)))
	ldifValue(b, "o", []byte("Example Inc."))
	ldifValue(b, "physicalDeliveryOfficeName", []byte("Berlin; Floor 2, Room "+p.uid[4:]))
	ldifValue(b, "employeeNumber", []byte("E"+p.uid[4:]))
	ldifValue(b, "userPassword", []byte("pw-"+p.uid))
	if p.managerUID != "" {
		m := orgPerson{uid: p.managerUID, dept: orgDepartments[0]}
		var idx int
		fmt.Sscanf(p.managerUID, "user%d", &idx)
		m.dept = orgDepartments[idx%len(orgDepartments)]
		ldifValue(b, "manager", []byte(dnOf(m)))
	}
	if p.kind != "" {
		ldifValue(b, "employeeType", []byte(p.kind))
	}
	if p.photo {
		ldifValue(b, "jpegPhoto", photo)
	}
	b.WriteString("\n")
}

// metadataJPEG is a small real JPEG carrying an EXIF-like APP1 segment and
// a comment, which publishing must strip.
func metadataJPEG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 48, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 48; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 5), 128, 255})
		}
	}
	var out bytes.Buffer
	jpeg.Encode(&out, img, &jpeg.Options{Quality: 80})
	j := out.Bytes()
	exif := append([]byte{0xFF, 0xE1, 0, 0}, []byte("Exif\x00\x00GPS 52.52N 13.40E secret-location")...)
	exif[3] = byte(len(exif) - 2)
	com := append([]byte{0xFF, 0xFE, 0, 0}, []byte("camera owner: someone")...)
	com[3] = byte(len(com) - 2)
	res := append([]byte{}, j[:2]...)
	res = append(res, exif...)
	res = append(res, com...)
	return append(res, j[2:]...)
}

// withTimeout is a context for one LDAP operation in a test.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func withTimeoutB(b testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	return ctx
}
