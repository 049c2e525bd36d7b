package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/carddav"
	"github.com/orgdav/orgdav/config"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/runner"
	"github.com/orgdav/orgdav/store"
)

// common flags of every subcommand that reads the config.
type common struct {
	cfgPath, data string
	demoPeople    int
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.cfgPath, "config", "", "YAML config file (default: built-in demo organisation)")
	fs.StringVar(&c.data, "data", "", "data directory (overrides the config; default ./orgdav-data)")
	fs.IntVar(&c.demoPeople, "demo-people", 0, fmt.Sprintf("people in the demo directory (default %d)", directory.DefaultDemoPeople))
}

func (c *common) load() (*config.Config, error) {
	cfg := config.Default()
	if c.cfgPath != "" {
		var err error
		if cfg, err = config.Load(c.cfgPath); err != nil {
			return nil, err
		}
	}
	if c.data != "" {
		cfg.DataDir = c.data
	}
	if c.demoPeople != 0 {
		cfg.Demo.People = c.demoPeople
	}
	return cfg, cfg.Validate()
}

// The LDAP source is run incrementally, followed when it pushes changes
// and asked for logins: checked here, so a changed signature fails the
// build instead of silently turning a feature off.
var (
	_ runner.Incremental = (*directory.LDAPSource)(nil)
	_ runner.Watcher     = (*directory.LDAPSource)(nil)
	_ auth.LoginSource   = (*directory.LDAPSource)(nil)
)

// sources builds the configured sources, or the demo when there are none.
// It reads the bind passwords, so commands that only talk to a running
// server do not call it.
func sources(cfg *config.Config, log *slog.Logger) ([]runner.Spec, []auth.LoginSource, func(), error) {
	if len(cfg.Sources) == 0 {
		return []runner.Spec{{Source: directory.DemoDirectory{People: cfg.Demo.People}}}, nil, func() {}, nil
	}
	var specs []runner.Spec
	var logins []auth.LoginSource
	var opened []*directory.LDAPSource
	for i := range cfg.Sources {
		sc := &cfg.Sources[i]
		lc, err := sc.LDAP()
		if err != nil {
			for _, s := range opened {
				s.Close()
			}
			return nil, nil, nil, err
		}
		if sc.InsecureSkipVerify {
			log.Warn("TLS certificate checks are OFF for this source: anyone on the network path can read the directory and passwords", "source", sc.Name)
		}
		src := directory.NewLDAPSource(lc, log)
		opened = append(opened, src)
		draft := sc.State == config.StateDraft
		specs = append(specs, runner.Spec{Source: src, Draft: draft, Interval: sc.Schedule.Interval.Duration,
			Incremental: sc.Schedule.Incremental.Duration, MaxRemovalShare: *sc.MaxRemovalShare, RemovalWindow: sc.RemovalWindow.Duration})
		if !draft {
			logins = append(logins, src)
		}
	}
	return specs, logins, func() {
		for _, s := range opened {
			s.Close()
		}
	}, nil
}

func socketPath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "orgdav.sock") }

// openStore opens the database for a command run without a server.
func openStore(cfg *config.Config) (*store.Store, error) {
	rules, err := cfg.Rules()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return store.Open(filepath.Join(cfg.DataDir, "orgdav.db"), store.Options{
		Fingerprint: carddav.RenderFingerprint(rules),
		Retention:   cfg.Store.TombstoneRetention.Duration,
		MappedBytes: cfg.Memory.MappedDBBytes,
	})
}

func printRuns(w io.Writer, runs []store.Run) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tTRIGGER\tSTARTED\tTOOK\tRESULT\tSEEN\tPUBLISHED\tADDED\tUPDATED\tREMOVED\tSKIPPED\tNOTE")
	for _, r := range runs {
		note := r.Note
		if r.Error != "" {
			note = r.Error
		}
		counts := fmt.Sprintf("%d\t%d\t%d\t%d\t%d\t%d", r.Seen, r.Published, r.Added, r.Updated, r.Removed, r.Skipped)
		if r.Result == store.RunFailed {
			// Nothing was read or changed; zeros would read as an empty directory.
			counts = "-\t-\t-\t-\t-\t-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Source, r.Trigger,
			r.Start.Local().Format("2006-01-02 15:04:05"), r.End.Sub(r.Start).Round(time.Millisecond), r.Result, counts, note)
	}
	tw.Flush()
}

var errRunsNotApplied = errors.New("some runs failed or were held; see the notes above")
