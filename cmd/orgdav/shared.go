package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/orgdav/orgdav/api"
)

const sharedUsage = `orgdav shared: shared contact lists, through the running server or on the data directory.

  orgdav shared list
  orgdav shared show    LIST
  orgdav shared create  --name NAME [list flags]
  orgdav shared edit    LIST [list flags]          only the flags given change
  orgdav shared delete  LIST
  orgdav shared import  LIST FILE [--dry-run]       CSV (Outlook, Google, Apple) or vCard
  orgdav shared export  LIST [--format vcard|csv] [--version 3.0|4.0] [--flavor outlook|google] [-o FILE]
  orgdav shared members LIST                        who receives and who edits it now

LIST is a list's id or name. List flags: --description, --state enabled|draft|disabled,
--everyone, --managers, --users, --groups, --departments, --except-users, --except-groups,
--except-departments, --editor-users, --editor-groups (comma-separated; groups by DN, key or
name), --live-group, --live-department (members from the directory; "" for none).
`

// sharedCmd manages shared contact lists.
func sharedCmd(args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Print(sharedUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("shared "+sub, flag.ContinueOnError)
	var c common
	c.register(fs)
	lf := registerListFlags(fs, sub == "create" || sub == "edit")
	dry := fs.Bool("dry-run", false, "import: show what would be created, updated and skipped, change nothing")
	format := fs.String("format", "vcard", "export: vcard or csv")
	version := fs.String("version", "3.0", "export: vCard version, 3.0 or 4.0")
	flavor := fs.String("flavor", "outlook", "export: CSV columns, outlook or google")
	out := fs.String("o", "", "export: write to this file instead of standard output")
	cl, pos, done, err := c.connect(fs, args, false)
	if err != nil {
		return err
	}
	defer done()
	need := map[string]int{"list": 0, "create": 0, "show": 1, "edit": 1, "delete": 1, "members": 1, "export": 1, "import": 2}
	n, known := need[sub]
	if !known {
		return fmt.Errorf("unknown command %q\n\n%s", "shared "+sub, sharedUsage)
	}
	if len(pos) != n {
		return fmt.Errorf("shared %s: want %d arguments, got %d\n\n%s", sub, n, len(pos), sharedUsage)
	}
	var id string
	if n > 0 {
		if id, err = findList(cl, pos[0]); err != nil {
			return err
		}
	}
	switch sub {
	case "list":
		var lists []api.ListView
		if err := cl.Call(http.MethodGet, "lists", nil, nil, &lists); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tCONTACTS\tAUDIENCE\tEDITORS")
		for _, l := range lists {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", l.ID, l.Name, l.State, l.Contacts, describeAudience(&l), describeNames(l.Editors, nil))
		}
		return tw.Flush()
	case "show", "create", "edit":
		var l api.ListView
		switch sub {
		case "show":
			err = cl.Call(http.MethodGet, "lists/"+id, nil, nil, &l)
		case "create":
			err = cl.Call(http.MethodPost, "lists", nil, lf.body(fs), &l)
		default:
			err = cl.Call(http.MethodPatch, "lists/"+id, nil, lf.body(fs), &l)
		}
		if err != nil {
			return err
		}
		return printJSON(l)
	case "delete":
		return cl.Call(http.MethodDelete, "lists/"+id, nil, nil, nil)
	case "members":
		var m api.MembersView
		if err := cl.Call(http.MethodGet, "lists/"+id+"/members", nil, nil, &m); err != nil {
			return err
		}
		fmt.Printf("%d receive it, %d edit it\n", len(m.Receivers), len(m.Editors))
		for _, p := range m.Editors {
			fmt.Printf("editor    %s\n", p.Username)
		}
		for _, p := range m.Receivers {
			fmt.Printf("receiver  %s\n", p.Username)
		}
		return nil
	case "import":
		data, err := os.ReadFile(pos[1])
		if err != nil {
			return err
		}
		q := url.Values{}
		if *dry {
			q.Set("dry_run", "true")
		}
		body, err := cl.Raw(http.MethodPost, "lists/"+id+"/import", q, bytes.NewReader(data), "application/octet-stream")
		var e *api.Error
		if errors.As(err, &e) && e.Line > 0 {
			return fmt.Errorf("%s: %s", pos[1], e.Message)
		}
		if err != nil {
			return err
		}
		var rep api.ImportReport
		if err := json.Unmarshal(body, &rep); err != nil {
			return err
		}
		printImport(os.Stdout, pos[1], &rep)
		return nil
	case "export":
		q := url.Values{"format": {*format}, "version": {*version}, "flavor": {*flavor}}
		data, err := cl.Raw(http.MethodGet, "lists/"+id+"/export", q, nil, "")
		if err != nil {
			return err
		}
		if *out == "" {
			_, err = os.Stdout.Write(data)
			return err
		}
		return os.WriteFile(*out, data, 0o600)
	}
	return nil
}

// findList accepts a list's id or its name (any case).
func findList(cl *api.Client, s string) (string, error) {
	var lists []api.ListView
	if err := cl.Call(http.MethodGet, "lists", nil, nil, &lists); err != nil {
		return "", err
	}
	for _, l := range lists {
		if l.ID == s || strings.EqualFold(l.Name, s) {
			return l.ID, nil
		}
	}
	return "", fmt.Errorf("no shared list %q (orgdav shared list shows them)", s)
}

// listFlags are the flags that set a list's fields.
type listFlags struct {
	name, description, state                     *string
	everyone, managers                           *bool
	users, groups, departments                   *string
	exceptUsers, exceptGroups, exceptDepartments *string
	editorUsers, editorGroups                    *string
	liveGroup, liveDepartment                    *string
}

func registerListFlags(fs *flag.FlagSet, on bool) *listFlags {
	if !on {
		return nil
	}
	return &listFlags{
		name:              fs.String("name", "", "the list's name, as its group appears on phones"),
		description:       fs.String("description", "", "what the list is for"),
		state:             fs.String("state", "", "enabled, draft or disabled (new lists: draft)"),
		everyone:          fs.Bool("everyone", false, "everyone receives it"),
		managers:          fs.Bool("managers", false, "people with direct reports receive it"),
		users:             fs.String("users", "", "users who receive it"),
		groups:            fs.String("groups", "", "groups whose members receive it (nested membership counts)"),
		departments:       fs.String("departments", "", "departments whose people receive it"),
		exceptUsers:       fs.String("except-users", "", "users who never receive it"),
		exceptGroups:      fs.String("except-groups", "", "groups whose members never receive it"),
		exceptDepartments: fs.String("except-departments", "", "departments whose people never receive it"),
		editorUsers:       fs.String("editor-users", "", "users who edit it (a writable book in their account)"),
		editorGroups:      fs.String("editor-groups", "", "groups whose members edit it"),
		liveGroup:         fs.String("live-group", "", "a directory group whose people are the list's members"),
		liveDepartment:    fs.String("live-department", "", "a department whose people are the list's members"),
	}
}

// body is the API body of the flags given on the command line.
func (lf *listFlags) body(fs *flag.FlagSet) *api.ListBody {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	b := &api.ListBody{}
	str := func(name string, v *string) *string {
		if set[name] {
			return v
		}
		return nil
	}
	b.Name, b.Description, b.State = str("name", lf.name), str("description", lf.description), str("state", lf.state)
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	for _, f := range []string{"everyone", "managers", "users", "groups", "departments", "except-users", "except-groups", "except-departments"} {
		if set[f] {
			b.Audience = &api.AudienceBody{Everyone: *lf.everyone, Managers: *lf.managers,
				MembersBody: api.MembersBody{Users: split(*lf.users), Groups: split(*lf.groups), Departments: split(*lf.departments)},
				Except:      &api.MembersBody{Users: split(*lf.exceptUsers), Groups: split(*lf.exceptGroups), Departments: split(*lf.exceptDepartments)}}
			break
		}
	}
	if set["editor-users"] || set["editor-groups"] {
		b.Editors = &api.MembersBody{Users: split(*lf.editorUsers), Groups: split(*lf.editorGroups)}
	}
	if set["live-group"] || set["live-department"] {
		b.Live = &api.LiveBody{Group: *lf.liveGroup, Department: *lf.liveDepartment}
	}
	return b
}

func describeAudience(l *api.ListView) string {
	a := l.Audience
	var parts []string
	if a.Everyone {
		parts = append(parts, "everyone")
	}
	if a.Managers {
		parts = append(parts, "managers")
	}
	if s := describeNames(a.MembersBody, l.Groups); s != "-" {
		parts = append(parts, s)
	}
	if a.Except == nil {
		a.Except = &api.MembersBody{}
	}
	if s := describeNames(*a.Except, l.Groups); s != "-" {
		parts = append(parts, "except "+s)
	}
	if l.Live != nil {
		parts = append(parts, "live "+l.Live.Group+l.Live.Department)
	}
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, "; ")
}

func describeNames(n api.MembersBody, groups []api.GroupName) string {
	var parts []string
	parts = append(parts, n.Users...)
	for _, g := range n.Groups {
		name := g
		for _, gn := range groups {
			if gn.Key == g && gn.Name != "" {
				name = gn.Name
			}
		}
		parts = append(parts, "group "+name)
	}
	for _, d := range n.Departments {
		parts = append(parts, "department "+d)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printImport shows an import's counts, then every contact that is not
// simply created, with its line: what a person checks before applying.
func printImport(w io.Writer, file string, rep *api.ImportReport) {
	verb := "imported"
	if rep.DryRun {
		verb = "would import (dry run, nothing changed)"
	}
	fmt.Fprintf(w, "%s (%s): %s %d new, %d updated, %d unchanged, %d skipped\n", file, rep.Format, verb, rep.Created, rep.Updated, rep.Unchanged, rep.Skipped)
	for _, it := range rep.Items {
		if it.Action == "create" && !rep.DryRun {
			continue
		}
		fmt.Fprintf(w, "  line %d: %s %s", it.Line, it.Action, it.Name)
		if it.Reason != "" {
			fmt.Fprintf(w, " (%s)", it.Reason)
		}
		fmt.Fprintln(w)
	}
}
