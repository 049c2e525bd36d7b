package directory

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPhotoBytes caps an inline photo. Phones choke on megabyte cards; AD
// thumbnails are at most 100 KB.
const MaxPhotoBytes = 100 << 10

var (
	sourceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
)

// ValidSourceName reports whether name can name a source: it is part of
// every card's identity, so it is short and URL-safe.
func ValidSourceName(name string) bool { return sourceNameRE.MatchString(name) }

// PersonKey, GroupKey and DepartmentKey build the store keys. A source name
// holds no "/", so the three forms cannot collide.
func PersonKey(source, id string) string       { return source + "/p/" + id }
func GroupKey(source, id string) string        { return source + "/g/" + id }
func DepartmentKey(source, name string) string { return source + "/d/" + name }

// SourceOf returns the source part of a key.
func SourceOf(key string) string {
	if i := strings.IndexByte(key, '/'); i >= 0 {
		return key[:i]
	}
	return key
}

// Normalize validates a snapshot and derives what publishing needs: it drops
// hidden and disabled people, trims and validates values (a bad value is
// skipped with a reason, never fatal), resolves nested group membership with
// cycle detection, ignores dangling members, derives department groups and
// manager facts.
func Normalize(s Snapshot) (*Published, error) {
	if !ValidSourceName(s.Source) {
		return nil, fmt.Errorf("directory: source name %q: use 1-32 lower-case letters, digits, - or _", s.Source)
	}
	pub := &Published{Source: s.Source, Skipped: append([]Skip(nil), s.Skips...)}
	skip := func(id, format string, a ...any) {
		pub.Skipped = append(pub.Skipped, Skip{ID: id, Reason: fmt.Sprintf(format, a...)})
	}
	// Entries are built in place: the slice never grows past its capacity,
	// so pointers into it stay valid, and it becomes pub.People unchanged.
	entries := make([]Entry, 0, len(s.People))
	byID := make(map[string]*Entry, len(s.People))
	hidden := map[string]*Entry{}
	for i := range s.People {
		p := s.People[i]
		p.ID = strings.TrimSpace(p.ID)
		switch {
		case p.ID == "":
			skip(fmt.Sprintf("#%d", i), "no directory id")
			continue
		case byID[p.ID] != nil:
			skip(p.ID, "duplicate directory id")
			continue
		case p.Disabled:
			pub.Skipped = append(pub.Skipped, Skip{ID: p.ID, Reason: "disabled", Excluded: true})
			continue
		}
		if !cleanPerson(&p, func(format string, a ...any) { skip(p.ID, format, a...) }) {
			continue
		}
		if p.Hidden {
			pub.Skipped = append(pub.Skipped, Skip{ID: p.ID, Reason: "hidden", Excluded: true})
			if hidden[p.ID] == nil && p.Username != "" {
				hidden[p.ID] = &Entry{Key: PersonKey(s.Source, p.ID), Person: p}
			}
			continue
		}
		entries = append(entries, Entry{Key: PersonKey(s.Source, p.ID), Person: p})
		byID[p.ID] = &entries[len(entries)-1]
	}

	groups := make(map[string]*Group, len(s.Groups))
	for i := range s.Groups {
		g := &s.Groups[i]
		g.ID = strings.TrimSpace(g.ID)
		if g.ID == "" || groups[g.ID] != nil {
			skip(g.ID, "group without id or duplicate group id")
			continue
		}
		groups[g.ID] = g
	}
	gids := make([]string, 0, len(groups))
	for id := range groups {
		gids = append(gids, id)
	}
	sort.Strings(gids)
	pub.named = map[string]namedGroup{}
	for _, gid := range gids {
		g := groups[gid]
		members := effectiveMembers(g, groups, byID)
		key := GroupKey(s.Source, gid)
		name := cleanText(g.Name)
		if name == "" {
			name = gid
		}
		if _, taken := pub.named[foldName(name)]; !taken {
			pub.named[foldName(name)] = namedGroup{key, name}
		}
		pub.Groups = append(pub.Groups, GroupEntry{Key: key, Name: name, Kind: KindGroup, Members: members})
		for _, mk := range members {
			e := byID[strings.TrimPrefix(mk, PersonKey(s.Source, ""))]
			e.Groups = append(e.Groups, key)
		}
		if len(hidden) > 0 {
			for _, id := range memberIDs(g, groups) {
				if h := hidden[id]; h != nil {
					h.Groups = append(h.Groups, key)
				}
			}
		}
	}

	depts := map[string][]string{}
	for i := range entries {
		e := &entries[i]
		sort.Strings(e.Groups)
		if e.Department != "" {
			depts[e.Department] = append(depts[e.Department], e.Key)
		}
		if m := byID[e.ManagerID]; m != nil && m != e {
			e.ManagerKey = m.Key
			e.ManagerName = m.DisplayName
			m.IsManager = true
		} else {
			if h := hidden[e.ManagerID]; h != nil {
				h.IsManager = true
			}
			e.ManagerID = ""
		}
	}
	for name, members := range depts {
		if ng, ok := pub.named[foldName(name)]; ok {
			// The directory has a group of that name: one group card, with
			// the department's people added to the group's own members.
			i := slices.IndexFunc(pub.Groups, func(g GroupEntry) bool { return g.Key == ng.key })
			pub.Groups[i].Members = mergeSorted(pub.Groups[i].Members, members)
			continue
		}
		sort.Strings(members)
		pub.Groups = append(pub.Groups, GroupEntry{Key: DepartmentKey(s.Source, name), Name: name, Kind: KindDepartment, Members: members})
	}
	// A group card without members is nothing on a phone but an empty
	// entry: a group whose people are all hidden is not published.
	pub.Groups = slices.DeleteFunc(pub.Groups, func(g GroupEntry) bool { return len(g.Members) == 0 })
	sort.Slice(pub.Groups, func(i, j int) bool { return pub.Groups[i].Key < pub.Groups[j].Key })

	for _, h := range hidden {
		sort.Strings(h.Groups)
		h.ManagerID = ""
		pub.Hidden = append(pub.Hidden, *h)
	}
	sort.Slice(pub.Hidden, func(i, j int) bool { return pub.Hidden[i].Key < pub.Hidden[j].Key })
	// People keep the snapshot's order; the store needs no order.
	pub.People = entries
	return pub, nil
}

// namedGroup is a directory group a department of the same name joins.
type namedGroup struct{ key, name string }

// foldName compares group and department names as people read them.
func foldName(name string) string { return strings.ToLower(name) }

// mergeSorted returns the union of two lists of keys, sorted.
func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// effectiveMembers resolves a group's published members, sorted keys.
func effectiveMembers(root *Group, groups map[string]*Group, people map[string]*Entry) []string {
	var out []string
	for _, id := range memberIDs(root, groups) {
		if e := people[id]; e != nil {
			out = append(out, e.Key)
		}
	}
	sort.Strings(out)
	return out
}

// memberIDs resolves a group's member IDs through nested subgroups,
// visiting each group once so membership cycles end. IDs that name no
// person stay in; callers drop dangling ones.
func memberIDs(root *Group, groups map[string]*Group) []string {
	seen := map[string]bool{}
	set := map[string]bool{}
	stack := []*Group{root}
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[g.ID] {
			continue
		}
		seen[g.ID] = true
		for _, m := range g.Members {
			set[strings.TrimSpace(m)] = true
		}
		for _, sg := range g.Subgroups {
			if sub := groups[strings.TrimSpace(sg)]; sub != nil {
				stack = append(stack, sub)
			}
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	return out
}

// cleanPerson trims and validates every value. It returns false when the
// person cannot be published at all (no name).
func cleanPerson(p *Person, skip func(format string, a ...any)) bool {
	p.Username = strings.TrimSpace(p.Username)
	p.GivenName = cleanText(p.GivenName)
	p.FamilyName = cleanText(p.FamilyName)
	p.DisplayName = cleanText(p.DisplayName)
	if p.DisplayName == "" {
		p.DisplayName = strings.TrimSpace(p.GivenName + " " + p.FamilyName)
	}
	if p.DisplayName == "" {
		p.DisplayName = p.Username
	}
	if p.DisplayName == "" {
		skip("no name (display, given, family or username)")
		return false
	}
	p.Emails = keep(p.Emails, func(e string) (string, bool) {
		e = strings.TrimSpace(e)
		if !validEmail(e) {
			skip("invalid email %q dropped", e)
			return e, false
		}
		return e, true
	})
	p.Emails = dedupeFold(p.Emails)
	p.Phones = keep(p.Phones, func(ph Phone) (Phone, bool) {
		ph.Number = strings.TrimSpace(ph.Number)
		switch ph.Kind {
		case PhoneWork, PhoneMobile, PhoneHome, PhoneFax:
		default:
			skip("phone %q of unknown kind %q dropped", ph.Number, ph.Kind)
			return ph, false
		}
		if !validPhone(ph.Number) {
			skip("invalid phone number %q dropped", ph.Number)
			return ph, false
		}
		return ph, true
	})
	p.Title = cleanText(p.Title)
	p.Department = cleanText(p.Department)
	p.Company = cleanText(p.Company)
	p.Office = cleanText(p.Office)
	p.Website = cleanText(p.Website)
	p.IMs = keep(p.IMs, func(im string) (string, bool) {
		im = strings.TrimSpace(im)
		scheme, rest, ok := strings.Cut(im, ":")
		if !ok || rest == "" || scheme == "" || strings.ContainsAny(im, " \t\r\n<>\"") {
			skip("invalid IM address %q dropped (want a URI such as xmpp:name@example.org)", im)
			return im, false
		}
		return im, true
	})
	p.EmployeeID = cleanText(p.EmployeeID)
	p.Notes = cleanMultiline(p.Notes)
	p.ManagerID = strings.TrimSpace(p.ManagerID)
	if a := p.Address; a != nil {
		c := Address{Street: cleanMultiline(a.Street), City: cleanText(a.City), Region: cleanText(a.Region),
			PostalCode: cleanText(a.PostalCode), Country: cleanText(a.Country)}
		switch {
		case c == (Address{}):
			p.Address = nil
		case c != *a:
			p.Address = &c
		}
	}
	p.Birthday = strings.TrimSpace(p.Birthday)
	if p.Birthday != "" && !validBirthday(p.Birthday) {
		skip("invalid birthday %q dropped", p.Birthday)
		p.Birthday = ""
	}
	if len(p.Photo) > 0 {
		switch {
		case !bytes.HasPrefix(p.Photo, []byte{0xFF, 0xD8, 0xFF}):
			skip("photo is not a JPEG, dropped")
			p.Photo = nil
		case len(p.Photo) > MaxPhotoBytes:
			skip("photo of %d bytes exceeds %d, dropped", len(p.Photo), MaxPhotoBytes)
			p.Photo = nil
		}
	}
	return true
}

// keep returns the values fix accepts, as fix returns them. When it
// accepts all unchanged it returns the input itself: clean entries, the
// usual case, cost no allocation.
func keep[T comparable](in []T, fix func(T) (T, bool)) []T {
	for i, v := range in {
		w, ok := fix(v)
		if ok && w == v {
			continue
		}
		out := append(make([]T, 0, len(in)), in[:i]...)
		if ok {
			out = append(out, w)
		}
		for _, v := range in[i+1:] {
			if w, ok := fix(v); ok {
				out = append(out, w)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return in
}

// dedupeFold drops case-insensitive repeats, keeping the first; the input
// is returned as is when it has none.
func dedupeFold(in []string) []string {
	for i := 1; i < len(in); i++ {
		for j := 0; j < i; j++ {
			if strings.EqualFold(in[i], in[j]) {
				out := append([]string(nil), in[:i]...)
				for _, v := range in[i+1:] {
					dup := false
					for _, o := range out {
						dup = dup || strings.EqualFold(v, o)
					}
					if !dup {
						out = append(out, v)
					}
				}
				return out
			}
		}
	}
	return in
}

// validBirthday accepts YYYY-MM-DD, YYYYMMDD, --MM-DD and --MMDD, and
// nothing in between.
func validBirthday(s string) bool {
	year, md := "", ""
	switch {
	case strings.HasPrefix(s, "--") && len(s) == 7 && s[4] == '-':
		md = s[2:4] + s[5:]
	case strings.HasPrefix(s, "--"):
		md = s[2:]
	case len(s) == 10 && s[4] == '-' && s[7] == '-':
		year, md = s[:4], s[5:7]+s[8:]
	case len(s) == 8:
		year, md = s[:4], s[4:]
	default:
		return false
	}
	if len(md) != 4 || !allDigits(year) || !allDigits(md) {
		return false
	}
	m, d := (md[0]-'0')*10+md[1]-'0', (md[2]-'0')*10+md[3]-'0'
	return m >= 1 && m <= 12 && d >= 1 && d <= 31
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validPhone accepts what people write for numbers: an optional +, then
// 3-30 digits, spaces and ()./- , then an optional extension ("x 12",
// "ext. 1234").
func validPhone(s string) bool {
	main, ext := s, ""
	for _, sep := range []string{" ext. ", " ext.", " ext ", "ext.", "ext", " x ", " x", "x"} {
		if i := strings.Index(s, sep); i > 0 {
			main, ext = s[:i], s[i+len(sep):]
			break
		}
	}
	main = strings.TrimPrefix(main, "+")
	if len(main) < 3 || len(main) > 30 || len(ext) > 6 || (ext == "" && main != strings.TrimPrefix(s, "+")) {
		return false
	}
	digits := 0
	for i := 0; i < len(main); i++ {
		switch c := main[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == ' ' || c == '(' || c == ')' || c == '.' || c == '/' || c == '-':
		default:
			return false
		}
	}
	for i := 0; i < len(ext); i++ {
		if ext[i] < '0' || ext[i] > '9' {
			return false
		}
	}
	return digits > 0
}

func validEmail(e string) bool {
	at := strings.LastIndexByte(e, '@')
	return at > 0 && at < len(e)-1 && len(e) <= 254 &&
		!strings.ContainsFunc(e, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || r == ',' || r == ';' || r == '<' || r == '>'
		})
}

// cleanText trims a single-line value, folds runs of white space and
// removes control characters.
func cleanText(s string) string {
	if isClean(s) {
		return s
	}
	// Invalid UTF-8 comes out of Map as U+FFFD; U+FFFE and U+FFFF are no
	// characters at all.
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r), r == 0xFFFE, r == 0xFFFF:
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func allLinesClean(s string) bool {
	if strings.HasPrefix(s, "\n") || strings.HasSuffix(s, "\n") {
		return false
	}
	for _, l := range strings.SplitAfter(s, "\n") {
		if !isClean(strings.TrimSuffix(l, "\n")) {
			return false
		}
	}
	return true
}

// isClean reports whether cleanText would return s unchanged; most
// directory values are, and this spares them two allocations.
func isClean(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && (unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF)) {
			return false
		}
		space := r == ' '
		if space && prevSpace {
			return false
		}
		prevSpace = space
	}
	return true
}

// cleanMultiline keeps line breaks (as \n) but removes other control characters.
func cleanMultiline(s string) string {
	if !strings.ContainsRune(s, '\r') && allLinesClean(s) {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = cleanText(l)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
