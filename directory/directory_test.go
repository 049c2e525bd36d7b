package directory

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestVisibilityTableViewerPersonField(t *testing.T) {
	rules, err := NewRules(map[Field]Audience{FieldMobile: SameDepartment, FieldBirthday: SameGroup, FieldAddress: Managers, FieldHomePhone: Nobody, FieldEmail: Everyone})
	if err != nil {
		t.Fatal(err)
	}
	type viewerT struct {
		name string
		view View
	}
	viewers := []viewerT{
		{"colleague", View{Department: "Eng", Groups: []string{"g1"}}},
		{"stranger", View{Department: "Sales"}},
		{"manager elsewhere", View{Department: "Sales", IsManager: true}},
		{"no department", View{}},
	}
	personDept, personGroups := "Eng", []string{"g1", "g2"}
	want := map[string]map[Field]bool{
		"colleague":         {FieldEmail: true, FieldMobile: true, FieldBirthday: true, FieldAddress: false, FieldHomePhone: false},
		"stranger":          {FieldEmail: true, FieldMobile: false, FieldBirthday: false, FieldAddress: false, FieldHomePhone: false},
		"manager elsewhere": {FieldEmail: true, FieldMobile: false, FieldBirthday: false, FieldAddress: true, FieldHomePhone: false},
		"no department":     {FieldEmail: true, FieldMobile: false, FieldBirthday: false, FieldAddress: false, FieldHomePhone: false},
	}
	for _, v := range viewers {
		mask := rules.Mask(Relate(&v.view, personDept, personGroups))
		for f, w := range want[v.name] {
			if mask.Has(f) != w {
				t.Errorf("viewer %s, field %s: granted %v, want %v", v.name, f, mask.Has(f), w)
			}
		}
	}
	// Two people without a department are not "the same department".
	if rules.Mask(Relate(&View{}, "", nil)).Has(FieldMobile) {
		t.Error("empty departments matched as the same department")
	}
}

func TestRulesRejectUnknownAudience(t *testing.T) {
	if _, err := NewRules(map[Field]Audience{FieldEmail: "friends"}); err == nil {
		t.Fatal("unknown audience accepted")
	}
}

func TestNormalizeResolvesNestingCyclesAndDanglingMembers(t *testing.T) {
	s := Snapshot{Source: "t", People: []Person{
		{ID: "a", DisplayName: "A", Department: "D", ManagerID: "b"},
		{ID: "b", DisplayName: "B"},
		{ID: "h", DisplayName: "Hidden", Hidden: true},
		{ID: "x", DisplayName: "Off", Disabled: true},
	}, Groups: []Group{
		{ID: "outer", Name: "Outer", Subgroups: []string{"inner"}},
		{ID: "inner", Name: "Inner", Members: []string{"a", "h", "ghost"}, Subgroups: []string{"outer"}},
	}}
	pub, err := Normalize(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.People) != 2 {
		t.Fatalf("want 2 published people, got %d", len(pub.People))
	}
	var outer *GroupEntry
	for i := range pub.Groups {
		if pub.Groups[i].Key == GroupKey("t", "outer") {
			outer = &pub.Groups[i]
		}
	}
	if outer == nil || !reflect.DeepEqual(outer.Members, []string{PersonKey("t", "a")}) {
		t.Fatalf("outer group members through nesting: %+v", outer)
	}
	a := pub.People[0]
	if !reflect.DeepEqual(a.Groups, []string{GroupKey("t", "inner"), GroupKey("t", "outer")}) {
		t.Fatalf("a's effective groups: %v", a.Groups)
	}
	if a.ManagerName != "B" || !pub.People[1].IsManager {
		t.Fatalf("manager facts: %+v / %+v", a, pub.People[1])
	}
}

func TestNormalizeSkipsBadValuesNotPeople(t *testing.T) {
	pub, err := Normalize(Snapshot{Source: "t", People: []Person{{
		ID: "a", GivenName: " Ann\x00 ", FamilyName: "Lee", Emails: []string{"ok@example.org", "not an email", "OK@example.org"},
		Phones:   []Phone{{Kind: PhoneMobile, Number: "+49 151 1234567"}, {Kind: PhoneWork, Number: "call me"}},
		Birthday: "1990-13-01", Photo: []byte("GIF89a"),
	}, {ID: ""}}})
	if err != nil {
		t.Fatal(err)
	}
	p := pub.People[0]
	if p.DisplayName != "Ann Lee" || len(p.Emails) != 1 || len(p.Phones) != 1 || p.Birthday != "" || p.Photo != nil {
		t.Fatalf("cleaned person: %+v", p.Person)
	}
	if len(pub.Skipped) < 5 {
		t.Fatalf("skips not recorded: %+v", pub.Skipped)
	}
}

func TestDemoIsDeterministicAndVaried(t *testing.T) {
	a, b := Demo(400), Demo(400)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("demo differs between two builds")
	}
	pub, err := Normalize(a)
	if err != nil {
		t.Fatal(err)
	}
	depts := map[string]int{}
	var photos, noPhone, multiMail, hidden int
	var nonASCII, comma bool
	for _, p := range a.People {
		if p.Hidden || p.Disabled {
			hidden++
		}
	}
	for _, e := range pub.People {
		depts[e.Department]++
		if len(e.Photo) > 0 {
			photos++
			if !bytes.HasPrefix(e.Photo, []byte{0xFF, 0xD8}) {
				t.Fatal("demo photo is not a JPEG")
			}
		}
		if len(e.Phones) == 0 {
			noPhone++
		}
		if len(e.Emails) > 1 {
			multiMail++
		}
		for _, r := range e.DisplayName {
			if r > 0x7f {
				nonASCII = true
			}
		}
		if bytes.ContainsAny([]byte(e.Title), ",;") {
			comma = true
		}
	}
	if len(pub.People) < 300 || len(depts) < 8 || photos == 0 || noPhone == 0 || multiMail == 0 || hidden == 0 || !nonASCII || !comma {
		t.Fatalf("demo lacks variety: people %d depts %d photos %d nophone %d multimail %d hidden %d nonascii %v comma %v",
			len(pub.People), len(depts), photos, noPhone, multiMail, hidden, nonASCII, comma)
	}
	alice := pub.People[0]
	for _, e := range pub.People {
		if e.Username == "alice" {
			alice = e
		}
	}
	if alice.Username != "alice" || depts[alice.Department] < 2 {
		t.Fatal("alice missing or without colleagues")
	}
}

func TestValidPhone(t *testing.T) {
	cases := map[string]bool{
		"+49 151 1234567": true, "+1 (555) 010-0100": true, "030/123.45": true, "+1 555 0100 ext. 1001": true,
		"555 0100 x 12": true, "5550100x12": true, "call me": false, "12": false, "+": false, "555 ext. ": false,
		"+1 555 0100 ext. 1234567": false, "555-0100; drop table": false, "x123": false, "ext. 12": false,
	}
	for in, want := range cases {
		if got := validPhone(in); got != want {
			t.Errorf("validPhone(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestValidBirthday(t *testing.T) {
	cases := map[string]bool{"1980-05-17": true, "19800517": true, "--05-17": true, "--0517": true, "1980-13-01": false,
		"1980-00-10": false, "--05-32": false, "17.05.1980": false, "": false, "1980-5-17": false, "abcd-05-17": false,
		"--0-101": false, "000001-01": false, "1980-0517": false, "198005-17": false}
	for in, want := range cases {
		if got := validBirthday(in); got != want {
			t.Errorf("validBirthday(%q) = %v, want %v", in, got, want)
		}
	}
	if got := cleanMultiline("a\r\nb  c\n"); got != "a\nb c" {
		t.Errorf("cleanMultiline: %q", got)
	}
	if got := cleanMultiline("line one\nline two"); got != "line one\nline two" {
		t.Errorf("cleanMultiline changed a clean value: %q", got)
	}
}

func TestADepartmentAndADirectoryGroupOfOneNamePublishOneGroup(t *testing.T) {
	s := Snapshot{Source: "corp", People: []Person{
		{ID: "a", DisplayName: "A", Department: "Engineering"},
		{ID: "b", DisplayName: "B", Department: "Engineering"},
		{ID: "c", DisplayName: "C", Department: "Sales"},
	}, Groups: []Group{{ID: "g1", Name: "engineering", Members: []string{"c"}}}}
	pub, err := Normalize(s)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range pub.Groups {
		names = append(names, g.Name)
		if g.Name == "engineering" && (g.Key != GroupKey("corp", "g1") || strings.Join(g.Members, " ") != "corp/p/a corp/p/b corp/p/c") {
			t.Errorf("the merged group: %+v", g)
		}
	}
	if strings.Join(names, ",") != "Sales,engineering" {
		t.Fatalf("groups published: %v, want the directory group once and Sales", names)
	}
	for _, e := range pub.People {
		if e.ID == "a" && len(e.Groups) != 0 {
			t.Errorf("the department made a a member of the directory group for visibility: %v", e.Groups)
		}
	}
}

func TestAGroupWhoseMembersAreAllHiddenIsNotPublished(t *testing.T) {
	s := Snapshot{Source: "corp", People: []Person{
		{ID: "a", DisplayName: "A", Username: "a", Hidden: true},
		{ID: "b", DisplayName: "B"},
	}, Groups: []Group{{ID: "g1", Name: "Board", Members: []string{"a"}}, {ID: "g2", Name: "All", Members: []string{"a", "b"}}}}
	pub, err := Normalize(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.Groups) != 1 || pub.Groups[0].Name != "All" {
		t.Fatalf("groups published: %+v", pub.Groups)
	}
	if len(pub.Hidden) != 1 || strings.Join(pub.Hidden[0].Groups, " ") != "corp/g/g1 corp/g/g2" {
		t.Errorf("the hidden person's own groups still decide what they see: %+v", pub.Hidden)
	}
}

func TestTextXMLCannotCarryIsCleanedFromDirectoryValues(t *testing.T) {
	for in, want := range map[string]string{"Boss\uFFFE": "Boss", "caf\xe9": "caf\uFFFD", "a\uFFFFb\x01c": "abc", "Zoë\uFFFD": "Zoë\uFFFD"} {
		if got := cleanText(in); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppendCardUIDIsCardUID(t *testing.T) {
	for _, key := range []string{"", "demo/p/1", "ldap/g/" + strings.Repeat("é", 200), strings.Repeat("k", 240), strings.Repeat("k", 241)} {
		if got, want := string(AppendCardUID([]byte("x"), key)), "x"+uuid.NewSHA1(cardNamespace, []byte(key)).String(); got != want {
			t.Errorf("AppendCardUID(%.20q) = %s, want %s", key, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { AppendCardUID(make([]byte, 0, 64), "demo/g/engineering") }); n > 1 {
		t.Errorf("AppendCardUID allocates %v times", n)
	}
}
