package directory

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"strings"

	"github.com/google/uuid"
)

// DemoSource is the name of the built-in demo directory's source.
const DemoSource = "demo"

// DemoPassword is every demo person's password.
const DemoPassword = "demo"

// DemoAdmin holds the admin role in the demo when the config names no
// admins.
const DemoAdmin = "alice"

// DefaultDemoPeople sizes the demo directory when nothing else is asked.
const DefaultDemoPeople = 300

// MinDemoPeople keeps the fixed cast (alice and her colleagues) inside the demo.
const MinDemoPeople = 40

var demoNamespace = uuid.MustParse("5b0e7c11-3e0c-5f43-9a8e-64656d6f6f72")

var demoDepartments = []string{
	"Engineering", "Sales", "Marketing", "Finance", "Human Resources",
	"Operations", "Legal", "Customer Support", "Research & Development", "Facilities",
}

// demoTeams are nested groups: each team belongs to a department's team
// group, and some have sub-teams.
var demoTeams = []struct {
	id, name, dept, parent string
}{
	{"eng-teams", "Engineering Teams", "Engineering", ""},
	{"platform", "Platform", "Engineering", "eng-teams"},
	{"platform-storage", "Platform Storage", "Engineering", "platform"},
	{"mobile", "Mobile Apps", "Engineering", "eng-teams"},
	{"sales-emea", "Sales EMEA", "Sales", ""},
	{"sales-apac", "Sales APAC", "Sales", ""},
	{"brand", "Brand & Design", "Marketing", ""},
	{"payroll", "Payroll", "Finance", ""},
	{"recruiting", "Recruiting", "Human Resources", ""},
	{"support-l2", "Support, Level 2", "Customer Support", ""},
	{"lab", "Research Lab", "Research & Development", ""},
	{"social", "Social Committee", "", ""},
}

// demoCast are the fixed, well-known demo people; index 0 is alice.
var demoCast = []struct {
	user, given, family, dept, title, team string
}{
	{"alice", "Alice", "Martin", "Engineering", "Software Engineer", "platform"},
	{"bob", "Bob", "Nguyen", "Engineering", "Head of Engineering", ""},
	{"carol", "Carol", "Schmidt", "Engineering", "Senior Engineer", "platform-storage"},
	{"dave", "Dave", "O'Brien", "Sales", "Director, Sales; EMEA", "sales-emea"},
	{"erin", "Erin", "Łukasiewicz", "Marketing", "Designer", "brand"},
	{"frank", "François", "Dubois", "Finance", "Controller", "payroll"},
	{"jose", "José", "Müller-Straße", "Engineering", "Mobile Engineer", "mobile"},
	{"taro", "太郎", "山田", "Research & Development", "研究員", "lab"},
	{"mohammed", "محمد", "العلي", "Customer Support", "مهندس دعم", "support-l2"},
	{"zoe", "Zoë", "Åström", "Human Resources", "HR Partner", "recruiting"},
}

var demoGiven = []string{
	"Anna", "Ben", "Chloé", "Daniel", "Elif", "Fatima", "Georg", "Hana", "Ivan", "Julia",
	"Kenji", "Lena", "Mateusz", "Nora", "Omar", "Paula", "Quentin", "Rosa", "Sven", "Tomasz",
	"Uwe", "Vera", "Wei", "Ximena", "Yusuf", "Zofia", "Björn", "Agnieszka", "Sérgio", "Øyvind",
}

var demoFamily = []string{
	"Smith", "Müller", "García", "Kowalski", "Rossi", "Dubois", "Yılmaz", "Nakamura", "Andersson", "Novák",
	"Petrović", "O'Connor", "Silva", "Jansen", "Weiß", "Lefèvre", "Popescu", "Horváth", "Nowak", "Hansen",
	"Fernández", "Kim", "Chen", "Brown", "Schulz", "Łoś", "Ibrahim", "Costa", "Virtanen", "Dąbrowski",
}

var demoCities = []struct{ city, region, code, country string }{
	{"Berlin", "", "10115", "Germany"},
	{"Paris", "Île-de-France", "75002", "France"},
	{"Kraków", "Małopolska", "31-001", "Poland"},
	{"Austin", "TX", "73301", "USA"},
	{"Tokyo", "", "100-0001", "Japan"},
}

// DemoDirectory is the demo organisation as a source.
type DemoDirectory struct{ People int }

// Name is the demo source's name.
func (DemoDirectory) Name() string { return DemoSource }

// Snapshot builds the demo organisation.
func (d DemoDirectory) Snapshot(ctx context.Context) (Snapshot, error) {
	return Demo(d.People), ctx.Err()
}

// Demo builds the built-in demo organisation with n people. The same n
// always gives the same directory, byte for byte.
func Demo(n int) Snapshot {
	if n < MinDemoPeople {
		n = MinDemoPeople
	}
	rng := rand.New(rand.NewPCG(20261121, uint64(n)))
	photos := demoPhotos(24)
	id := func(kind string, i int) string {
		return uuid.NewSHA1(demoNamespace, fmt.Appendf(nil, "%s-%d", kind, i)).String()
	}
	s := Snapshot{Source: DemoSource, People: make([]Person, 0, n)}
	users := map[string]bool{}
	teamMembers := map[string][]string{}
	heads := map[string]string{} // department -> head's ID
	leads := map[string]string{} // team -> lead's ID

	for i := range n {
		p := Person{ID: id("person", i), Company: "Example Org, Inc."}
		team := ""
		if i < len(demoCast) {
			c := demoCast[i]
			p.Username, p.GivenName, p.FamilyName, p.Department, p.Title, team = c.user, c.given, c.family, c.dept, c.title, c.team
		} else {
			p.GivenName = demoGiven[rng.IntN(len(demoGiven))]
			p.FamilyName = demoFamily[rng.IntN(len(demoFamily))]
			p.Department = demoDepartments[i%len(demoDepartments)]
			p.Title = []string{"Specialist", "Analyst", "Coordinator", "Manager, Projects", "Associate; Trainee", "Consultant"}[rng.IntN(6)]
			p.Username = demoUsername(p.GivenName, p.FamilyName, i)
			if rng.IntN(3) > 0 {
				for _, t := range demoTeams {
					if t.dept == p.Department && rng.IntN(2) == 0 {
						team = t.id
						break
					}
				}
			}
		}
		for users[p.Username] {
			p.Username = fmt.Sprintf("%s%d", p.Username, i)
		}
		users[p.Username] = true
		p.DisplayName = p.GivenName + " " + p.FamilyName
		if p.Department == "Research & Development" && i < len(demoCast) {
			p.DisplayName = p.FamilyName + " " + p.GivenName
		}
		local := demoUsername(p.GivenName, p.FamilyName, i)
		p.Emails = []string{local + "@example.org"}
		if i%5 == 0 {
			p.Emails = append(p.Emails, p.Username+"@corp.example.org")
		}
		if i%11 != 3 { // some people have no phone at all
			p.Phones = append(p.Phones, Phone{Kind: PhoneWork, Number: fmt.Sprintf("+1 555 01%02d ext. %d", i%100, 1000+i)})
			p.Phones = append(p.Phones, Phone{Kind: PhoneMobile, Number: fmt.Sprintf("+49 151 %08d", 10000000+i)})
			if i%4 == 0 {
				p.Phones = append(p.Phones, Phone{Kind: PhoneHome, Number: fmt.Sprintf("+49 30 %07d", 2000000+i)})
			}
			if i%9 == 0 {
				p.Phones = append(p.Phones, Phone{Kind: PhoneFax, Number: fmt.Sprintf("+1 555 09%04d", i%10000)})
			}
		}
		c := demoCities[i%len(demoCities)]
		p.Office = fmt.Sprintf("%s HQ; Building %d, Floor %d", c.city, 1+i%3, 1+i%7)
		p.Address = &Address{Street: fmt.Sprintf("%d Example Street, Suite %d", 1+i%200, i), City: c.city, Region: c.region, PostalCode: c.code, Country: c.country}
		if i%3 == 0 {
			p.Birthday = fmt.Sprintf("%04d-%02d-%02d", 1960+i%40, 1+i%12, 1+i%28)
		} else if i%3 == 1 {
			p.Birthday = fmt.Sprintf("--%02d-%02d", 1+i%12, 1+i%28)
		}
		p.EmployeeID = fmt.Sprintf("E%06d", i)
		if i%13 == 0 {
			p.Website = "https://example.org/people/" + p.Username
		}
		if i%6 == 0 {
			p.IMs = []string{"xmpp:" + p.Username + "@chat.example.org"}
		}
		if i%17 == 0 {
			p.Notes = fmt.Sprintf("Private note for %s:\nprefers email, not calls; keys, badge & laptop issued", p.DisplayName)
		}
		if i%7 == 0 {
			p.Photo = photos[i%len(photos)]
		}
		if i >= len(demoCast) {
			p.Hidden = i%97 == 50
			p.Disabled = i%89 == 60
		}
		if heads[p.Department] == "" && !p.Hidden && !p.Disabled && (i >= len(demoCast) || strings.HasPrefix(p.Title, "Head") || p.Department != "Engineering") {
			heads[p.Department] = p.ID
			if i >= len(demoCast) {
				p.Title = "Head of " + p.Department
			}
		}
		if team != "" {
			teamMembers[team] = append(teamMembers[team], p.ID)
			if leads[team] == "" && !p.Hidden && !p.Disabled {
				leads[team] = p.ID
			}
		}
		s.People = append(s.People, p)
	}
	// Managers: a team's lead reports to the department head, members to the lead.
	memberTeam := map[string]string{}
	for t, ms := range teamMembers {
		for _, m := range ms {
			memberTeam[m] = t
		}
	}
	teamDept := map[string]string{}
	for _, t := range demoTeams {
		teamDept[t.id] = t.dept
	}
	for i := range s.People {
		p := &s.People[i]
		head := heads[p.Department]
		switch lead := leads[memberTeam[p.ID]]; {
		case p.ID == head:
		case lead != "" && lead != p.ID && teamDept[memberTeam[p.ID]] == p.Department:
			p.ManagerID = lead
		default:
			p.ManagerID = head
		}
	}
	for _, t := range demoTeams {
		g := Group{ID: id("group-"+t.id, 0), Name: t.name, Members: teamMembers[t.id]}
		for _, sub := range demoTeams {
			if sub.parent == t.id {
				g.Subgroups = append(g.Subgroups, id("group-"+sub.id, 0))
			}
		}
		if t.id == "social" {
			for i := 0; i < n; i += 23 {
				g.Members = append(g.Members, s.People[i].ID)
			}
			g.Members = append(g.Members, s.People[0].ID, "dangling-member-id")
		}
		s.Groups = append(s.Groups, g)
	}
	return s
}

var asciiFold = strings.NewReplacer(
	"é", "e", "è", "e", "ê", "e", "ë", "e", "É", "E", "á", "a", "à", "a", "â", "a", "ä", "ae", "å", "a", "Å", "A",
	"ą", "a", "ç", "c", "ć", "c", "ę", "e", "í", "i", "ı", "i", "ł", "l", "Ł", "L", "ń", "n", "ñ", "n",
	"ó", "o", "ö", "oe", "ø", "o", "Ø", "O", "ś", "s", "ß", "ss", "ü", "ue", "ú", "u", "ź", "z", "ż", "z", "ř", "r",
	"š", "s", "ž", "z", "č", "c", "ã", "a", "õ", "o", "ğ", "g", "ş", "s", "ç", "c", "'", "", "-", "",
)

func demoUsername(given, family string, i int) string {
	u := strings.ToLower(asciiFold.Replace(given + "." + family))
	u = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '.' {
			return r
		}
		return -1
	}, u)
	if strings.Trim(u, ".") == "" {
		return fmt.Sprintf("user%d", i)
	}
	return u
}

// demoPhotos renders k small, distinct JPEG portraits: a tinted background
// and a head-and-shoulders silhouette.
func demoPhotos(k int) [][]byte {
	out := make([][]byte, k)
	const size = 64
	for n := range k {
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		bg := color.RGBA{uint8(60 + n*37%180), uint8(90 + n*53%150), uint8(120 + n*71%120), 255}
		fg := color.RGBA{240, 230, 220, 255}
		for y := range size {
			for x := range size {
				c := bg
				dx, dy := x-size/2, y-size*2/5
				body := (x-size/2)*(x-size/2)+(y-size)*(y-size)*2 < size*size/5
				if dx*dx+dy*dy < (size/6)*(size/6) || body {
					c = fg
				}
				img.SetRGBA(x, y, c)
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 75}); err != nil {
			panic(err) // encoding into memory cannot fail
		}
		out[n] = b.Bytes()
	}
	return out
}
