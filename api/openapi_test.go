package api

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/runner"
	"github.com/orgdav/orgdav/store"
	"gopkg.in/yaml.v3"
)

// openapi.yaml is read by people and tools that never see the code; these
// tests keep it the code's contract: its routes are the registered ones,
// its schemas have the Go types' JSON fields, and its references resolve.

// goTypes are the Go types whose JSON openapi.yaml describes, by the name
// its schemas give them in x-go-type. Reflection cannot find a type by
// name, so they are listed here; TestOpenAPISchemasMatchTheGoTypes fails
// when a JSON type of package api is missing.
var goTypes = typesByName(
	reflect.TypeFor[Error](),
	reflect.TypeFor[store.Run](),
	reflect.TypeFor[store.AuditEntry](),
	reflect.TypeFor[ListBody](),
	reflect.TypeFor[AudienceBody](),
	reflect.TypeFor[MembersBody](),
	reflect.TypeFor[LiveBody](),
	reflect.TypeFor[ListView](),
	reflect.TypeFor[GroupName](),
	reflect.TypeFor[MembersView](),
	reflect.TypeFor[PersonRef](),
	reflect.TypeFor[ContactBody](),
	reflect.TypeFor[Phone](),
	reflect.TypeFor[ContactView](),
	reflect.TypeFor[ImportReport](),
	reflect.TypeFor[ImportItem](),
	reflect.TypeFor[GroupView](),
	reflect.TypeFor[DepartmentView](),
	reflect.TypeFor[Deleted](),
)

// answerSchemas are also checked on real answers, by
// TestOpenAPIAnswersMatchTheirSchemas: the reflection of their Go types
// says nothing of what the handlers put in them.
var answerSchemas = []string{"DirectoryGroup", "Department", "Deleted"}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPI is the document as parsed: YAML maps and lists.
type openAPI map[string]any

func loadOpenAPI(t *testing.T) openAPI {
	t.Helper()
	// Into a plain map: yaml.v3 gives nested maps the type of the outer one,
	// which the type switches here would not recognise.
	var m map[string]any
	if err := yaml.Unmarshal(openAPIYAML, &m); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	doc := openAPI(m)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi.yaml: openapi is %q, want 3.1.x", v)
	}
	return doc
}

// operation is one METHOD and path of the document.
type operation struct {
	method, path string
	op           map[string]any
	pathItem     map[string]any
}

func (o operation) String() string { return strings.ToUpper(o.method) + " " + o.path }

func (doc openAPI) operations() []operation {
	var out []operation
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		item, _ := paths[p].(map[string]any)
		for _, m := range httpMethods {
			if op, ok := item[m].(map[string]any); ok {
				out = append(out, operation{method: m, path: p, op: op, pathItem: item})
			}
		}
	}
	return out
}

// resolve follows a local reference ("#/components/schemas/Run").
func (doc openAPI) resolve(ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var node any = map[string]any(doc)
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		if node, ok = m[part]; !ok {
			return nil, false
		}
	}
	return node, true
}

// deref resolves node when it is a reference, else returns it.
func (doc openAPI) deref(node any) map[string]any {
	m, _ := node.(map[string]any)
	for i := 0; i < 10 && m != nil; i++ { // a cycle of refs is cut short
		ref, ok := m["$ref"].(string)
		if !ok {
			break
		}
		target, _ := doc.resolve(ref)
		m, _ = target.(map[string]any)
	}
	return m
}

func (doc openAPI) schema(name string) map[string]any {
	schemas, _ := doc.components("schemas")
	m, _ := schemas[name].(map[string]any)
	return m
}

func (doc openAPI) components(kind string) (map[string]any, bool) {
	c, _ := doc["components"].(map[string]any)
	m, ok := c[kind].(map[string]any)
	return m, ok
}

// newOpenAPITestAPI builds the API over an empty store, with the document's
// route registered whether or not New registers it yet.
func newOpenAPITestAPI(t *testing.T) (*API, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := New(Options{Store: st})
	if !slices.Contains(a.routes, "GET "+Prefix+"openapi.yaml") {
		a.mountOpenAPI()
	}
	return a, st
}

// wildcard matches a ServeMux wildcard; "{name...}" is "{name}" in OpenAPI.
var wildcard = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// patternOperation turns a ServeMux pattern, "GET /api/v1/lists/{id}", into
// the document's "GET /api/v1/lists/{id}".
func patternOperation(pattern string) string {
	method, p, _ := strings.Cut(pattern, " ")
	p = strings.TrimSuffix(p, "{$}")
	return method + " " + wildcard.ReplaceAllString(p, "{$1}")
}

func TestOpenAPIDocumentsEveryRouteAndNoOther(t *testing.T) {
	a, _ := newOpenAPITestAPI(t)
	doc := loadOpenAPI(t)
	registered := map[string]bool{}
	for _, p := range a.routes {
		registered[patternOperation(p)] = true
	}
	documented := map[string]bool{}
	for _, o := range doc.operations() {
		documented[o.String()] = true
	}
	for _, r := range slices.Sorted(maps.Keys(registered)) {
		if !documented[r] {
			t.Errorf("the API registers %s, which openapi.yaml does not document", r)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(documented)) {
		if !registered[d] {
			t.Errorf("openapi.yaml documents %s, which the API does not register", d)
		}
	}
}

// Every operation names its path's parameters, has an id of its own, and
// answers 401 and 403: the listener refuses any route to a caller without
// a login or the role. The personal routes, which the user themself may
// call, are marked so, and are exactly the ones the code lets through.
func TestOpenAPIOperationsDeclareParametersIDsAndLoginErrors(t *testing.T) {
	a, _ := newOpenAPITestAPI(t)
	doc := loadOpenAPI(t)
	ids := map[string]string{}
	self := map[string]bool{}
	for _, o := range doc.operations() {
		want := map[string]bool{}
		for _, m := range wildcard.FindAllStringSubmatch(o.path, -1) {
			want[m[1]] = true
		}
		declared := map[string]bool{}
		for _, list := range []any{o.pathItem["parameters"], o.op["parameters"]} {
			params, _ := list.([]any)
			for _, p := range params {
				pm := doc.deref(p)
				if pm == nil {
					t.Errorf("%s: a parameter does not resolve: %v", o, p)
					continue
				}
				if pm["in"] != "path" {
					continue
				}
				name, _ := pm["name"].(string)
				declared[name] = true
				if pm["required"] != true {
					t.Errorf("%s: path parameter %q is not required: true", o, name)
				}
			}
		}
		for _, n := range slices.Sorted(maps.Keys(want)) {
			if !declared[n] {
				t.Errorf("%s: path parameter {%s} is not declared as a parameter", o, n)
			}
		}
		for _, n := range slices.Sorted(maps.Keys(declared)) {
			if !want[n] {
				t.Errorf("%s: declares path parameter %q, which the path does not have", o, n)
			}
		}

		id, _ := o.op["operationId"].(string)
		switch prev, dup := ids[id]; {
		case id == "":
			t.Errorf("%s has no operationId", o)
		case dup:
			t.Errorf("%s and %s share the operationId %q", prev, o, id)
		}
		ids[id] = o.String()

		responses, _ := o.op["responses"].(map[string]any)
		for _, code := range []string{"401", "403"} {
			if _, ok := responses[code]; !ok {
				t.Errorf("%s does not declare a %s response", o, code)
			}
		}
		if o.op["x-self-allowed"] == true {
			self[o.String()] = true
		}
	}
	code := map[string]bool{}
	for p := range a.self {
		code[patternOperation(p)] = true
	}
	if !maps.Equal(self, code) {
		t.Errorf("openapi.yaml marks %v x-self-allowed; the code lets users call %v for themselves",
			slices.Sorted(maps.Keys(self)), slices.Sorted(maps.Keys(code)))
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	var walk func(where string, node any)
	walk = func(where string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if ref, ok := n["$ref"]; ok {
				s, _ := ref.(string)
				if !strings.HasPrefix(s, "#/components/") {
					t.Errorf("%s: $ref %v is not a local #/components/ reference", where, ref)
				} else if _, ok := doc.resolve(s); !ok {
					t.Errorf("%s: $ref %s names no component", where, s)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(n)) {
				walk(where+"/"+k, n[k])
			}
		case []any:
			for i, v := range n {
				walk(fmt.Sprintf("%s/%d", where, i), v)
			}
		}
	}
	walk("#", map[string]any(doc))
}

// A schema marked x-go-type has the JSON fields of its Go type, each of
// the matching JSON type; in answers it requires exactly the fields always
// written; as a request body it refuses unknown fields, as decodeJSON does.
func TestOpenAPISchemasMatchTheGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	answers, requests := map[string]bool{}, map[string]bool{}
	for _, o := range doc.operations() {
		doc.reach(o.op["responses"], answers)
		doc.reach(o.op["requestBody"], requests)
	}
	schemas, _ := doc.components("schemas")
	named := map[string]string{} // Go type -> schema
	for _, name := range slices.Sorted(maps.Keys(schemas)) {
		s := doc.schema(name)
		goName, _ := s["x-go-type"].(string)
		if goName == "" {
			if !slices.Contains(answerSchemas, name) {
				t.Errorf("schema %s has no x-go-type: name the Go type it describes, or check it in TestOpenAPIAnswersMatchTheirSchemas", name)
			}
			continue
		}
		typ, ok := goTypes[goName]
		if !ok {
			t.Errorf("schema %s: x-go-type %s is not in goTypes in openapi_test.go", name, goName)
			continue
		}
		named[goName] = name
		fields := jsonFields(typ)
		props, _ := s["properties"].(map[string]any)
		for _, f := range fields {
			p, ok := props[f.name]
			if !ok {
				t.Errorf("schema %s lacks %s's JSON field %q", name, goName, f.name)
				continue
			}
			for _, problem := range doc.typeProblems(f.typ, p) {
				t.Errorf("schema %s, property %s: %s", name, f.name, problem)
			}
		}
		for _, p := range slices.Sorted(maps.Keys(props)) {
			if !slices.ContainsFunc(fields, func(f jsonField) bool { return f.name == p }) {
				t.Errorf("schema %s has property %q, which %s does not have", name, p, goName)
			}
		}
		required := map[string]bool{}
		list, _ := s["required"].([]any)
		for _, r := range list {
			r, _ := r.(string)
			required[r] = true
			if _, ok := props[r]; !ok {
				t.Errorf("schema %s requires %q, which it does not have", name, r)
			}
		}
		if answers[name] {
			for _, f := range fields {
				if !f.omitempty && !required[f.name] {
					t.Errorf("schema %s: %s always writes %q (no omitempty), so answers have it: list it in required", name, goName, f.name)
				}
				if f.omitempty && required[f.name] {
					t.Errorf("schema %s requires %q, which %s leaves out when empty (omitempty)", name, f.name, goName)
				}
			}
		}
		if requests[name] && s["additionalProperties"] != false {
			t.Errorf("schema %s is a request body, whose unknown fields the API refuses: give it additionalProperties: false", name)
		}
	}
	for _, goName := range slices.Sorted(maps.Keys(goTypes)) {
		if _, ok := named[goName]; !ok {
			t.Errorf("no schema of openapi.yaml has x-go-type %s", goName)
		}
	}
	// A JSON type added to the package must be documented, and listed above
	// to be checked.
	for _, name := range exportedJSONTypes(t) {
		if _, ok := goTypes[name]; !ok {
			t.Errorf("type %s has JSON fields but is not in goTypes: document it in openapi.yaml with x-go-type: %s and add it to goTypes in openapi_test.go", name, name)
		}
	}
}

// reach marks the schemas node refers to, directly or through other
// components.
func (doc openAPI) reach(node any, marks map[string]bool) {
	switch n := node.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok {
			if name, ok := strings.CutPrefix(ref, "#/components/schemas/"); ok {
				if marks[name] {
					return
				}
				marks[name] = true
			}
			if target, ok := doc.resolve(ref); ok {
				doc.reach(target, marks)
			}
		}
		for _, v := range n {
			doc.reach(v, marks)
		}
	case []any:
		for _, v := range n {
			doc.reach(v, marks)
		}
	}
}

// typeProblems says how a property's schema p differs from the JSON that
// encoding/json makes of a Go type.
func (doc openAPI) typeProblems(typ reflect.Type, p any) []string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	s, _ := p.(map[string]any)
	if s == nil {
		return []string{"not a schema"}
	}
	if ref, ok := s["$ref"].(string); ok {
		target := doc.deref(s)
		if target == nil {
			return []string{"$ref " + ref + " does not resolve"}
		}
		if typ.Kind() == reflect.Struct && typ != reflect.TypeFor[time.Time]() {
			if got := target["x-go-type"]; got != goTypeName(typ) {
				return []string{fmt.Sprintf("$ref %s has x-go-type %v, the field is a %s", ref, got, goTypeName(typ))}
			}
			return nil
		}
		s = target
	}
	var want string
	switch typ.Kind() {
	case reflect.String:
		want = "string"
	case reflect.Bool:
		want = "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "integer"
	case reflect.Float32, reflect.Float64:
		want = "number"
	case reflect.Slice, reflect.Array:
		want = "array"
	case reflect.Map:
		want = "object"
	case reflect.Struct:
		if typ == reflect.TypeFor[time.Time]() {
			if s["type"] != "string" || s["format"] != "date-time" {
				return []string{"a time: want type: string, format: date-time"}
			}
			return nil
		}
		return []string{fmt.Sprintf("a %s: want a $ref to the schema with x-go-type: %s", goTypeName(typ), goTypeName(typ))}
	default:
		return []string{"a Go " + typ.String() + ", which this test cannot map"}
	}
	if s["type"] != want {
		return []string{fmt.Sprintf("a Go %s: want type: %s, not %v", typ, want, s["type"])}
	}
	switch typ.Kind() {
	case reflect.Slice, reflect.Array:
		return doc.typeProblems(typ.Elem(), s["items"])
	case reflect.Map:
		return doc.typeProblems(typ.Elem(), s["additionalProperties"])
	}
	return nil
}

// jsonField is a field as encoding/json writes it.
type jsonField struct {
	name      string
	typ       reflect.Type
	omitempty bool
}

// jsonFields lists the JSON fields of a struct as encoding/json makes them:
// "-" dropped, unexported fields dropped, untagged embedded structs
// flattened into their parent.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			out = append(out, jsonFields(ft)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	return out
}

// goTypeName is a type's name as x-go-type gives it: bare for package
// api's, "store.Run" for another package's.
func goTypeName(t reflect.Type) string {
	if t.PkgPath() == reflect.TypeFor[API]().PkgPath() {
		return t.Name()
	}
	return path.Base(t.PkgPath()) + "." + t.Name()
}

func typesByName(types ...reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, t := range types {
		out[goTypeName(t)] = t
	}
	return out
}

// exportedJSONTypes lists the package's exported struct types with a json
// tag, from its source: the types its routes take and answer.
func exportedJSONTypes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok || !ts.Name.IsExported() {
					continue
				}
				if slices.ContainsFunc(st.Fields.List, func(f *ast.Field) bool {
					return f.Tag != nil && strings.Contains(f.Tag.Value, `json:"`)
				}) {
					out = append(out, ts.Name.Name)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// openAPIDemo is a directory of demo people, groups and departments.
type openAPIDemo struct{}

func (openAPIDemo) Name() string { return "corp" }
func (openAPIDemo) Snapshot(context.Context) (directory.Snapshot, error) {
	s := directory.Demo(directory.MinDemoPeople)
	s.Source = "corp"
	return s, nil
}

// Some schemas are checked on the answers themselves: every key an answer
// has is a property, every property it requires is there, and each value
// has the property's JSON type.
func TestOpenAPIAnswersMatchTheirSchemas(t *testing.T) {
	a, st := newOpenAPITestAPI(t)
	r := runner.New(st, []runner.Spec{{Source: openAPIDemo{}, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), nil)
	if _, err := r.Run(context.Background(), "corp", runner.TriggerStartup, false); err != nil {
		t.Fatal(err)
	}
	l := &store.List{Name: "Suppliers", State: store.ListDraft}
	if err := st.CreateList(l); err != nil {
		t.Fatal(err)
	}
	doc := loadOpenAPI(t)
	cases := []struct {
		schema, method, path string
		array                bool
	}{
		{"DirectoryGroup", "GET", Prefix + "directory/groups", true},
		{"Department", "GET", Prefix + "directory/departments", true},
		{"Deleted", "DELETE", Prefix + "lists/" + l.ID, false},
	}
	checked := map[string]bool{}
	for _, c := range cases {
		checked[c.schema] = true
		t.Run(c.method+" "+c.path+" answers "+c.schema, func(t *testing.T) {
			rec := httptest.NewRecorder()
			a.Local().ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			var objects []map[string]any
			if c.array {
				if err := json.Unmarshal(rec.Body.Bytes(), &objects); err != nil || len(objects) == 0 {
					t.Fatalf("want a non-empty array of objects, got %s (%v)", rec.Body, err)
				}
			} else {
				var o map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
					t.Fatalf("want an object, got %s (%v)", rec.Body, err)
				}
				objects = append(objects, o)
			}
			s := doc.schema(c.schema)
			if s == nil {
				t.Fatalf("openapi.yaml has no schema %s", c.schema)
			}
			props, _ := s["properties"].(map[string]any)
			required, _ := s["required"].([]any)
			problems := map[string]bool{} // each once, not once an object
			for _, o := range objects {
				for _, k := range slices.Sorted(maps.Keys(o)) {
					p := doc.deref(props[k])
					if p == nil {
						problems[fmt.Sprintf("the answer has %q, which schema %s does not", k, c.schema)] = true
					} else if got := jsonType(o[k]); got != p["type"] && (got != "number" || p["type"] != "integer") {
						problems[fmt.Sprintf("%q is a JSON %s, schema %s says %v", k, got, c.schema, p["type"])] = true
					}
				}
				for _, k := range required {
					if _, ok := o[k.(string)]; !ok {
						problems[fmt.Sprintf("the answer lacks %q, which schema %s requires", k, c.schema)] = true
					}
				}
			}
			for _, p := range slices.Sorted(maps.Keys(problems)) {
				t.Error(p)
			}
		})
	}
	for _, name := range answerSchemas {
		if !checked[name] {
			t.Errorf("schema %s is neither checked on an answer here nor marked with x-go-type", name)
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

func TestOpenAPIDocumentIsServedAsYAML(t *testing.T) {
	a, _ := newOpenAPITestAPI(t)
	rec := httptest.NewRecorder()
	a.Local().ServeHTTP(rec, httptest.NewRequest("GET", Prefix+"openapi.yaml", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" || rec.Body.String() != string(openAPIYAML) {
		t.Fatalf("%d %q: want 200 application/yaml with openapi.yaml", rec.Code, rec.Header().Get("Content-Type"))
	}
}
