package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/orgdav/orgdav/api"
	"github.com/orgdav/orgdav/config"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/runner"
	"github.com/orgdav/orgdav/store"
)

// adminClient reaches the admin API the way the CLI does: through the
// running server's socket, or, when none runs, in process on the data
// directory (with the sources, for commands that run them). done releases
// what it opened.
func adminClient(cfg *config.Config, withSources bool) (cl *api.Client, done func(), err error) {
	if cl := api.Dial(socketPath(cfg)); cl != nil {
		return cl, func() {}, nil
	}
	log := newLogger(cfg.Log)
	st, err := openStore(cfg)
	if err != nil {
		return nil, nil, err
	}
	closeSources := func() {}
	var specs []runner.Spec
	if withSources {
		if specs, _, closeSources, err = sources(cfg, log); err != nil {
			st.Close()
			return nil, nil, err
		}
	}
	a := api.New(api.Options{Runs: runner.New(st, specs, log, nil), Store: st, Log: log})
	return api.InProcess(a.Local()), func() { closeSources(); st.Close() }, nil
}

// connect parses a command's flags and arguments (in any order), loads
// the config and reaches the admin API; done releases what it opened.
func (c *common) connect(fs *flag.FlagSet, args []string, withSources bool) (cl *api.Client, pos []string, done func(), err error) {
	if pos, err = parseInterleaved(fs, args); err != nil {
		return nil, nil, nil, err
	}
	cfg, err := c.load()
	if err != nil {
		return nil, nil, nil, err
	}
	cl, done, err = adminClient(cfg, withSources)
	return cl, pos, done, err
}

// parseInterleaved parses flags that may come before, between and after
// the positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// syncCmd runs one source or all now, through the running server when
// there is one, else directly on the data directory.
func syncCmd(args []string) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	var c common
	c.register(fs)
	confirm := fs.Bool("confirm", false, "apply runs that would otherwise be held (mass removal, no people)")
	cl, pos, done, err := c.connect(fs, args, true)
	if err != nil {
		return err
	}
	defer done()
	source := ""
	if len(pos) > 0 {
		source = pos[0]
	}
	runs, err := cl.Sync(source, *confirm)
	if err != nil {
		return err
	}
	printRuns(os.Stdout, runs)
	for _, r := range runs {
		if r.Result == store.RunFailed || r.Result == store.RunHeld {
			return errRunsNotApplied
		}
	}
	return nil
}

// logsCmd shows recent runs.
func logsCmd(args []string) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 20, "how many runs")
	source := fs.String("source", "", "only this source")
	cl, _, done, err := c.connect(fs, args, false)
	if err != nil {
		return err
	}
	defer done()
	runs, err := cl.Runs(*source, *n)
	if err != nil {
		return err
	}
	printRuns(os.Stdout, runs)
	return nil
}

// auditCmd shows recent changes made through the admin API and the CLI.
func auditCmd(args []string) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	var c common
	c.register(fs)
	n := fs.Int("n", 50, "how many entries")
	cl, _, done, err := c.connect(fs, args, false)
	if err != nil {
		return err
	}
	defer done()
	log, err := cl.Audit(*n)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tWHO\tACTION\tTARGET\tBEFORE\tAFTER\tNOTE")
	for _, e := range log {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", e.ID, e.Time.Local().Format("2006-01-02 15:04:05"), e.Who, e.Action, e.Target, e.Before, e.After, e.Note)
	}
	return tw.Flush()
}

// checkCmd connects to every source (drafts included), counts what it
// would publish and shows a few mapped people. It changes nothing.
func checkCmd(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var c common
	c.register(fs)
	samples := fs.Int("samples", 3, "mapped people to show per source")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	fmt.Printf("config: ok (%d sources)\n", len(cfg.Sources))
	specs, _, closeAll, err := sources(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer closeAll()
	failed := false
	for _, sp := range specs {
		name := sp.Source.Name()
		if fs.Arg(0) != "" && fs.Arg(0) != name {
			continue
		}
		state := "enabled"
		if sp.Draft {
			state = "draft"
		}
		snap, err := sp.Source.Snapshot(context.Background())
		if err != nil {
			fmt.Printf("\nsource %s (%s): FAILED\n  %v\n", name, state, err)
			failed = true
			continue
		}
		pub, err := directory.Normalize(snap)
		if err != nil {
			fmt.Printf("\nsource %s (%s): FAILED\n  %v\n", name, state, err)
			failed = true
			continue
		}
		fmt.Printf("\nsource %s (%s): connected and read\n  people: %d read, %d would be published, %d left out\n  groups: %d (including departments)\n",
			name, state, len(snap.People), len(pub.People), len(pub.Skipped), len(pub.Groups))
		reasons := map[string]int{}
		for _, s := range pub.Skipped {
			reasons[s.Reason]++
		}
		keys := make([]string, 0, len(reasons))
		for k := range reasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == 8 {
				fmt.Printf("  ... %d more kinds of reason\n", len(keys)-i)
				break
			}
			fmt.Printf("  left out %d×: %s\n", reasons[k], k)
		}
		for i := 0; i < len(pub.People) && i < *samples; i++ {
			e := pub.People[i*len(pub.People)/max(1, *samples)]
			var phones []string
			for _, p := range e.Phones {
				phones = append(phones, string(p.Kind)+" "+p.Number)
			}
			fmt.Printf("  sample: %s (login %q, id %s)\n    email %s; phones %s; title %q; department %q; manager %q; groups %d; %s\n",
				e.DisplayName, e.Username, e.ID, strings.Join(e.Emails, ", "), strings.Join(phones, ", "), e.Title, e.Department, e.ManagerName, len(e.Groups), photoSummary(len(e.Photo)))
		}
	}
	if failed {
		return fmt.Errorf("check failed for at least one source")
	}
	return nil
}

// photoSummary describes a sample's photo for check.
func photoSummary(size int) string {
	if size == 0 {
		return "no photo"
	}
	return fmt.Sprintf("photo %.1f KB", float64(size)/1024)
}
