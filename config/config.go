// Package config loads and validates orgdav's one YAML file.
//
// A complete example (every key optional; shown with its default):
//
//	# Address to listen on. Plain HTTP is fine on loopback or behind a
//	# TLS-terminating proxy; anywhere else set tls (phones refuse to send
//	# passwords over plain HTTP).
//	listen: 127.0.0.1:8080
//	# Where the database lives; created if missing.
//	data_dir: ./orgdav-data
//	tls:
//	  cert_file: ""        # PEM certificate chain
//	  key_file: ""         # PEM private key
//	# Set when a reverse proxy terminates TLS in front of orgdav: silences
//	# the plain-HTTP warning.
//	behind_proxy: false
//	# Proxies (addresses or CIDR ranges) whose X-Forwarded-For or Forwarded
//	# header names the client; from anyone else the headers are ignored.
//	trusted_proxies: []          # e.g. ["127.0.0.1"] for a proxy on this machine
//	metrics:
//	  # /metrics and /healthz for Prometheus on a listener of their own;
//	  # "" for none.
//	  listen: 127.0.0.1:9464
//	  # A file with a bearer token: /metrics on the phones' listener then
//	  # answers requests that carry it, and nobody without one.
//	  token_file: ""
//	http:
//	  max_request_bytes: 8388608   # PROPFIND/REPORT bodies; larger gets 413
//	  max_card_bytes: 1048576      # one uploaded vCard; larger gets 413
//	  read_timeout: 60s
//	  write_timeout: 10m           # a 100,000-card listing to a slow phone
//	  idle_timeout: 2m
//	  render_cache_bytes: 4194304  # rendered cards kept in memory (those asked for twice)
//	# How much memory orgdav holds on to while phones download their books.
//	memory:
//	  # Soft limit on the Go heap: near it the collector runs more often
//	  # rather than let the process grow. Raised to twice the live heap
//	  # and the render cache for a directory that needs more (and for a
//	  # larger render_cache_bytes), lifted while a full directory run
//	  # imports; the GOMEMLIMIT variable overrides it. 0: no limit, which
//	  # costs more memory and saves about a fifth of a download's CPU.
//	  heap_limit_bytes: 117440512
//	  # Database pages read stay in orgdav's resident memory until this
//	  # much has been read; then they are handed back to the kernel's page
//	  # cache (still cached, no longer counted as orgdav's). 0: never.
//	  mapped_db_bytes: 33554432
//	books:
//	  company_name: Company        # sorts first: macOS shows only the first book
//	  personal_name: Personal
//	# The built-in demo organisation, used while no other source is set.
//	demo:
//	  people: 300
//	# Who sees which field. Audiences: everyone, same-department,
//	# same-group, managers (viewers with direct reports), nobody.
//	visibility:
//	  fields:
//	    email: everyone
//	    work_phone: everyone
//	    mobile: same-department
//	    home_phone: nobody
//	    fax: everyone
//	    title: everyone
//	    department: everyone
//	    organization: everyone
//	    office: everyone
//	    address: managers
//	    manager: everyone
//	    photo: everyone
//	    birthday: same-group
//	    notes: nobody
//	    website: everyone
//	    employee_id: managers
//	    im: everyone
//	# Directory sources. Without any, the demo organisation is served.
//	sources:
//	  - name: corp                 # part of every card's identity: never rename
//	    description: Head office directory
//	    kind: ldap                 # ldap (OpenLDAP, 389-ds) or ad (Active Directory)
//	    state: draft               # draft: checked and previewed, never applied; enabled
//	    url: ldaps://ldap.example.org
//	    start_tls: false           # upgrade an ldap:// connection
//	    ca_file: ""                # PEM CA bundle for the server's certificate
//	    tls_server_name: ""        # name the certificate must carry; default: url's host
//	    insecure_skip_verify: false
//	    bind_dn: cn=orgdav,ou=services,dc=example,dc=org
//	    bind_password_env: ORGDAV_CORP_PASSWORD   # or bind_password_file, or bind_password
//	    timeout: 30s
//	    page_size: 500
//	    id_attribute: entryUUID    # ad: objectGUID
//	    login_attributes: [uid, mail]   # ad: [sAMAccountName, userPrincipalName]
//	    people:
//	      base_dns: ["ou=people,dc=example,dc=org"]   # quote DNs in [...] lists
//	      scope: sub               # sub or one
//	      filter: (objectClass=inetOrgPerson)
//	      exclude_ous: ["ou=service,ou=people,dc=example,dc=org"]
//	      include_groups: []       # only (nested) members of these group DNs
//	      exclude_groups: []
//	      hidden_filter: (employeeType=hidden)     # the "list in directory" switch
//	      disabled_filter: (employeeType=disabled) # ad also reads userAccountControl
//	      include_contacts: false  # ad: also publish contact objects
//	    groups:
//	      base_dns: ["ou=groups,dc=example,dc=org"]
//	      filter: (|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))
//	    mapping:                   # contact field: attribute; overrides the kind's defaults
//	      office: roomNumber
//	      birthday: ""             # empty: not mapped
//	    schedule:
//	      interval: 15m            # full read and reconciliation
//	      incremental: 30s         # read only what changed; 0s: off
//	    max_removal_share: 0.1     # removals adding up to more within removal_window are held
//	    removal_window: 24h        # for confirmation (orgdav sync --confirm)
//	auth:
//	  login_cache: 5m              # a verified login is not checked again for this long
//	  outage_grace: 24h            # while the directory is down, logins verified this recently still work
//	# Who may use the admin API (/api/v1/) with their directory login: user
//	# names, and members of groups given by DN (nested membership counts).
//	# With the demo organisation and no admins set, alice is one.
//	admins:
//	  users: []                    # e.g. [alice]
//	  groups: []                   # e.g. ["cn=orgdav-admins,ou=groups,dc=example,dc=org"]
//	store:
//	  # How long deletions are remembered for incremental sync. A phone
//	  # offline for longer re-downloads the book once (no duplicates).
//	  tombstone_retention: 400d
//	log:
//	  level: info    # debug, info, warn, error
//	  format: text   # text or json
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/orgdav/orgdav/directory"
	"gopkg.in/yaml.v3"
)

// Config is the whole file. See the package comment for an example.
type Config struct {
	Listen      string `yaml:"listen"`
	DataDir     string `yaml:"data_dir"`
	TLS         TLS    `yaml:"tls"`
	BehindProxy bool   `yaml:"behind_proxy"`
	// TrustedProxies are parsed by Validate into Proxies.
	TrustedProxies []string       `yaml:"trusted_proxies"`
	Proxies        []netip.Prefix `yaml:"-"`
	Metrics        Metrics        `yaml:"metrics"`
	HTTP           HTTP           `yaml:"http"`
	Books          Books          `yaml:"books"`
	Demo           Demo           `yaml:"demo"`
	Visibility     Visibility     `yaml:"visibility"`
	Sources        []Source       `yaml:"sources"`
	Auth           Auth           `yaml:"auth"`
	Admins         Admins         `yaml:"admins"`
	Store          Store          `yaml:"store"`
	Memory         Memory         `yaml:"memory"`
	Log            Log            `yaml:"log"`
}

// Memory bounds the heap and the database pages orgdav keeps resident.
type Memory struct {
	HeapLimitBytes int64 `yaml:"heap_limit_bytes"`
	MappedDBBytes  int64 `yaml:"mapped_db_bytes"`
}

// TLS names the certificate and key files.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Metrics says where /metrics is served and to whom.
type Metrics struct {
	Listen    string `yaml:"listen"`
	TokenFile string `yaml:"token_file"`
}

// HTTP holds limits and timeouts.
type HTTP struct {
	MaxRequestBytes  int64    `yaml:"max_request_bytes"`
	MaxCardBytes     int64    `yaml:"max_card_bytes"`
	ReadTimeout      Duration `yaml:"read_timeout"`
	WriteTimeout     Duration `yaml:"write_timeout"`
	IdleTimeout      Duration `yaml:"idle_timeout"`
	RenderCacheBytes int64    `yaml:"render_cache_bytes"`
}

// Books names the address books.
type Books struct {
	CompanyName  string `yaml:"company_name"`
	PersonalName string `yaml:"personal_name"`
}

// Demo sizes the built-in demo organisation.
type Demo struct {
	People int `yaml:"people"`
}

// Visibility maps field names to audiences.
type Visibility struct {
	Fields map[string]string `yaml:"fields"`
}

// Source is one LDAP or Active Directory connection.
type Source struct {
	Name               string            `yaml:"name"`
	Description        string            `yaml:"description"`
	Kind               string            `yaml:"kind"`
	State              string            `yaml:"state"`
	URL                string            `yaml:"url"`
	StartTLS           bool              `yaml:"start_tls"`
	CAFile             string            `yaml:"ca_file"`
	TLSServerName      string            `yaml:"tls_server_name"`
	InsecureSkipVerify bool              `yaml:"insecure_skip_verify"`
	BindDN             string            `yaml:"bind_dn"`
	BindPassword       string            `yaml:"bind_password"`
	BindPasswordEnv    string            `yaml:"bind_password_env"`
	BindPasswordFile   string            `yaml:"bind_password_file"`
	Timeout            Duration          `yaml:"timeout"`
	PageSize           int               `yaml:"page_size"`
	IDAttribute        string            `yaml:"id_attribute"`
	LoginAttributes    []string          `yaml:"login_attributes"`
	People             PeopleScope       `yaml:"people"`
	Groups             GroupScope        `yaml:"groups"`
	Mapping            map[string]string `yaml:"mapping"`
	Schedule           Schedule          `yaml:"schedule"`
	MaxRemovalShare    *float64          `yaml:"max_removal_share"`
	RemovalWindow      *Duration         `yaml:"removal_window"`
}

// PeopleScope says where people are and who is left out.
type PeopleScope struct {
	BaseDNs         []string `yaml:"base_dns"`
	Scope           string   `yaml:"scope"`
	Filter          string   `yaml:"filter"`
	ExcludeOUs      []string `yaml:"exclude_ous"`
	IncludeGroups   []string `yaml:"include_groups"`
	ExcludeGroups   []string `yaml:"exclude_groups"`
	HiddenFilter    string   `yaml:"hidden_filter"`
	DisabledFilter  string   `yaml:"disabled_filter"`
	IncludeContacts bool     `yaml:"include_contacts"`
}

// GroupScope says where groups are.
type GroupScope struct {
	BaseDNs []string `yaml:"base_dns"`
	Filter  string   `yaml:"filter"`
}

// Schedule says how often a source is read.
type Schedule struct {
	Interval    Duration  `yaml:"interval"`
	Incremental *Duration `yaml:"incremental"`
}

// Auth configures logins. Phones send the password with every request:
// the cache spares the directory a bind for each, and carries phones
// through a directory outage.
type Auth struct {
	LoginCache  Duration `yaml:"login_cache"`
	OutageGrace Duration `yaml:"outage_grace"`
}

// Admins names who holds the admin role: login names, and groups by DN.
type Admins struct {
	Users  []string `yaml:"users"`
	Groups []string `yaml:"groups"`
}

// Store configures the database.
type Store struct {
	TombstoneRetention Duration `yaml:"tombstone_retention"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Duration is a time.Duration that also accepts days ("400d").
type Duration struct{ time.Duration }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d.Duration = v
	return nil
}

// ParseDuration parses Go durations plus a whole-day form "Nd".
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %q: want e.g. 90s, 15m, 2h or 400d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 90s, 15m, 2h or 400d", s)
	}
	return v, nil
}

// Default returns the configuration used without a file.
func Default() *Config {
	return &Config{
		Listen:  "127.0.0.1:8080",
		DataDir: "./orgdav-data",
		HTTP: HTTP{
			MaxRequestBytes:  8 << 20,
			MaxCardBytes:     1 << 20,
			ReadTimeout:      Duration{60 * time.Second},
			WriteTimeout:     Duration{10 * time.Minute},
			IdleTimeout:      Duration{2 * time.Minute},
			RenderCacheBytes: 4 << 20,
		},
		Memory:  Memory{HeapLimitBytes: 112 << 20, MappedDBBytes: 32 << 20},
		Books:   Books{CompanyName: "Company", PersonalName: "Personal"},
		Demo:    Demo{People: directory.DefaultDemoPeople},
		Store:   Store{TombstoneRetention: Duration{400 * 24 * time.Hour}},
		Auth:    Auth{LoginCache: Duration{5 * time.Minute}, OutageGrace: Duration{24 * time.Hour}},
		Metrics: Metrics{Listen: "127.0.0.1:9464"},
		Log:     Log{Level: "info", Format: "text"},
		TLS:     TLS{},
		Visibility: Visibility{
			Fields: map[string]string{},
		},
	}
}

// Load reads and validates a file; unknown keys are errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data)
}

// Parse reads and validates YAML on top of the defaults.
func Parse(data []byte) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %s", nameKeys(data, err))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var (
	lineRE    = regexp.MustCompile(`line (\d+): `)
	unknownRE = regexp.MustCompile(`field \S+ not found in type \S+`)
)

// nameKeys rewrites yaml's "line N: ..." messages to name the dotted key
// at that line, so every error says which key to fix.
func nameKeys(data []byte, err error) string {
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	msg := strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n", "")
	msg = unknownRE.ReplaceAllString(msg, "unknown key (see the example in README.md)")
	return strings.TrimSpace(lineRE.ReplaceAllStringFunc(msg, func(m string) string {
		line, _ := strconv.Atoi(lineRE.FindStringSubmatch(m)[1])
		if key := keyAtLine(&root, line, ""); key != "" {
			return key + " (line " + strconv.Itoa(line) + "): "
		}
		return m
	}))
}

func keyAtLine(n *yaml.Node, line int, prefix string) string {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return keyAtLine(n.Content[0], line, prefix)
	}
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		if deeper := keyAtLine(v, line, path); deeper != "" {
			return deeper
		}
		if k.Line == line || v.Line == line {
			return path
		}
	}
	return ""
}

// Validate checks every key and names the first bad one.
func (c *Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return fmt.Errorf("config: listen: %q is not host:port (e.g. 127.0.0.1:8080 or :8443)", c.Listen)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return errors.New("config: data_dir: must not be empty")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("config: tls: set both cert_file and key_file, or neither")
	}
	for key, f := range map[string]string{"tls.cert_file": c.TLS.CertFile, "tls.key_file": c.TLS.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("config: %s: %v", key, err)
		}
	}
	switch {
	case c.HTTP.MaxRequestBytes < 4096:
		return errors.New("config: http.max_request_bytes: must be at least 4096")
	case c.HTTP.MaxCardBytes < 1024:
		return errors.New("config: http.max_card_bytes: must be at least 1024")
	case c.HTTP.ReadTimeout.Duration <= 0:
		return errors.New("config: http.read_timeout: must be positive")
	case c.HTTP.WriteTimeout.Duration <= 0:
		return errors.New("config: http.write_timeout: must be positive")
	case c.HTTP.IdleTimeout.Duration <= 0:
		return errors.New("config: http.idle_timeout: must be positive")
	case c.HTTP.RenderCacheBytes < 1<<20:
		return errors.New("config: http.render_cache_bytes: must be at least 1048576")
	case c.Memory.HeapLimitBytes != 0 && c.Memory.HeapLimitBytes < 32<<20:
		return errors.New("config: memory.heap_limit_bytes: must be 0 (no limit) or at least 33554432")
	case c.Memory.MappedDBBytes != 0 && c.Memory.MappedDBBytes < 1<<20:
		return errors.New("config: memory.mapped_db_bytes: must be 0 (no bound) or at least 1048576")
	case strings.TrimSpace(c.Books.CompanyName) == "":
		return errors.New("config: books.company_name: must not be empty")
	case strings.TrimSpace(c.Books.PersonalName) == "":
		return errors.New("config: books.personal_name: must not be empty")
	case c.Demo.People < directory.MinDemoPeople || c.Demo.People > 1_000_000:
		return fmt.Errorf("config: demo.people: %d is outside %d..1000000", c.Demo.People, directory.MinDemoPeople)
	case c.Store.TombstoneRetention.Duration < 24*time.Hour:
		return errors.New("config: store.tombstone_retention: must be at least 1d (shorter makes phones re-download often)")
	}
	if _, err := c.Rules(); err != nil {
		return err
	}
	if c.Auth.LoginCache.Duration < 0 || c.Auth.LoginCache.Duration > time.Hour {
		return errors.New("config: auth.login_cache: must be between 0s and 1h")
	}
	for i, u := range c.Admins.Users {
		if strings.TrimSpace(u) == "" || len(u) > 256 {
			return fmt.Errorf("config: admins.users[%d]: %q is not a user name", i, u)
		}
	}
	if err := checkDNs(c.Admins.Groups); err != nil {
		return fmt.Errorf("config: admins.groups: %v", err)
	}
	c.Proxies = nil
	for i, p := range c.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return fmt.Errorf("config: trusted_proxies[%d]: %q is not an address or a CIDR range (e.g. 10.0.0.5 or 10.0.5.0/29)", i, p)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		switch {
		case prefix.Bits() == 0:
			// Everyone could then name any client, and choose their own
			// failed-login budget.
			return fmt.Errorf("config: trusted_proxies[%d]: %q trusts everyone; list the proxies' own addresses", i, p)
		case prefix.Masked() != prefix:
			return fmt.Errorf("config: trusted_proxies[%d]: %q has host bits set; did you mean %s or %s?", i, p, prefix.Addr(), prefix.Masked())
		}
		c.Proxies = append(c.Proxies, prefix)
	}
	if c.Metrics.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Metrics.Listen); err != nil || port == "" {
			return fmt.Errorf("config: metrics.listen: %q is not host:port (e.g. 127.0.0.1:9464)", c.Metrics.Listen)
		}
	}
	if _, err := c.MetricsToken(); err != nil {
		return err
	}
	if c.Auth.OutageGrace.Duration < 0 || c.Auth.OutageGrace.Duration > 7*24*time.Hour {
		return errors.New("config: auth.outage_grace: must be between 0s (off) and 7d")
	}
	names := map[string]bool{}
	for i := range c.Sources {
		src := &c.Sources[i]
		if err := src.validate(fmt.Sprintf("sources[%d]", i)); err != nil {
			return err
		}
		if names[src.Name] {
			return fmt.Errorf("config: sources[%d].name: %q is used twice", i, src.Name)
		}
		names[src.Name] = true
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format: %q is not text or json", c.Log.Format)
	}
	return nil
}

// Rules builds the visibility rules.
func (c *Config) Rules() (*directory.Rules, error) {
	over := map[directory.Field]directory.Audience{}
	for name, aud := range c.Visibility.Fields {
		f, ok := directory.ParseField(name)
		if !ok {
			names := make([]string, 0)
			for _, f := range directory.Fields() {
				names = append(names, f.String())
			}
			return nil, fmt.Errorf("config: visibility.fields.%s: unknown field (known: %s)", name, strings.Join(names, ", "))
		}
		over[f] = directory.Audience(aud)
	}
	r, err := directory.NewRules(over)
	if err != nil {
		return nil, fmt.Errorf("config: visibility.fields: %w", err)
	}
	return r, nil
}

// MetricsToken reads the bearer token /metrics accepts on the main
// listener, or "" when none is configured.
func (c *Config) MetricsToken() (string, error) {
	if c.Metrics.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.Metrics.TokenFile)
	if err != nil {
		return "", fmt.Errorf("config: metrics.token_file: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("config: metrics.token_file: %s holds %d characters; use a random token of at least 16 (e.g. openssl rand -hex 32)", c.Metrics.TokenFile, len(tok))
	}
	return tok, nil
}

// ProxyWarnings says what in the proxy settings weakens the login
// throttle, for the log at start.
func (c *Config) ProxyWarnings() []string {
	var out []string
	if c.BehindProxy && len(c.Proxies) == 0 {
		out = append(out, "behind_proxy is set but trusted_proxies is empty: every phone has the proxy's address, and 20 failed logins from anyone throttle everyone; list the proxy in trusted_proxies")
	}
	for _, p := range c.Proxies {
		if p.Addr().Is4() && p.Bits() < 24 || !p.Addr().Is4() && p.Bits() < 64 {
			out = append(out, "trusted_proxies: "+p.String()+" is a wide range: any machine in it can name any client and spend that client's failed-login budget; list the proxies' own addresses")
		}
	}
	return out
}

// PlainHTTPWarning says why serving without TLS here is risky, or "" when
// it is fine (loopback, or a TLS proxy in front).
func (c *Config) PlainHTTPWarning() string {
	if c.TLS.CertFile != "" || c.BehindProxy {
		return ""
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	if host == "localhost" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return ""
	}
	return "serving plain HTTP on " + c.Listen + ": passwords cross the network in clear and Apple devices refuse to send them; set tls.cert_file/tls.key_file, or behind_proxy: true behind a TLS proxy"
}
