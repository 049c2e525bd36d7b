package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/orgdav/orgdav/api"
	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/carddav"
	"github.com/orgdav/orgdav/config"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/runner"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	listen := fs.String("listen", "", "listen address, e.g. 127.0.0.1:8080 (overrides the config)")
	metricsListen := fs.String("metrics-listen", "", "address for /metrics, e.g. 127.0.0.1:9464, or none (overrides the config's metrics.listen)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if *listen != "" || *metricsListen != "" {
		if *listen != "" {
			cfg.Listen = *listen
		}
		switch *metricsListen {
		case "":
		case "none":
			cfg.Metrics.Listen = ""
		default:
			cfg.Metrics.Listen = *metricsListen
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	log := newLogger(cfg.Log)
	rules, err := cfg.Rules()
	if err != nil {
		return err
	}
	// Sources first: a missing bind password is a config error, found
	// before the data directory is created.
	specs, logins, closeSources, err := sources(cfg, log)
	if err != nil {
		return err
	}
	defer closeSources()
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	run := runner.New(st, specs, log, reg)
	// A source read incrementally keeps its last publication, whose
	// strings the index shares: packing them would hold them twice.
	pack := true
	for _, sp := range specs {
		if sp.Incremental > 0 {
			pack = false
		}
	}
	// The index read at start counts in the live heap the limit allows for.
	if limit := heapLimit(cfg.Memory.HeapLimitBytes, cfg.HTTP.RenderCacheBytes); limit > 0 {
		runner.SetServingLimit(limit)
	}
	run.After = func(alone bool) {
		releaseMemory()
		if pack && alone {
			// After the run's garbage is gone and with no other run in
			// progress, so the packed copy adds to no run's peak; then
			// the index that copy replaced.
			st.PackIndex()
			debug.FreeOSMemory()
		}
		if limit := heapLimit(cfg.Memory.HeapLimitBytes, cfg.HTTP.RenderCacheBytes); limit > 0 {
			runner.SetServingLimit(limit)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var authn auth.Authenticator = auth.DemoAuth{Store: st, Password: directory.DemoPassword}
	if len(cfg.Sources) == 0 {
		// The demo is in-process and quick: serve it complete from the start.
		if _, err := run.Run(ctx, directory.DemoSource, runner.TriggerStartup, false); err != nil {
			return err
		}
	} else {
		authn = &auth.DirectoryAuth{Sources: logins, Store: st, TTL: cfg.Auth.LoginCache.Duration,
			OutageGrace: cfg.Auth.OutageGrace.Duration, MinFailure: 300 * time.Millisecond, Imported: run.Imported}
		// Directory sources run in the background: the server serves what
		// the store holds while the first run reads the directory.
		run.Start(ctx)
	}
	throttle := auth.NewThrottle()
	srv := carddav.New(st, rules, authn, carddav.Options{
		Throttle:         throttle,
		CompanyBookName:  cfg.Books.CompanyName,
		PersonalBookName: cfg.Books.PersonalName,
		MaxRequestBytes:  cfg.HTTP.MaxRequestBytes,
		MaxCardBytes:     cfg.HTTP.MaxCardBytes,
		RenderCacheBytes: cfg.HTTP.RenderCacheBytes,
		TrustedProxies:   cfg.Proxies,
		Logger:           log,
		Registry:         reg,
	})
	admins := &auth.Admins{Users: cfg.Admins.Users, Groups: cfg.Admins.Groups, GroupKey: run.GroupKey, Store: st}
	if len(cfg.Sources) == 0 && len(admins.Users)+len(admins.Groups) == 0 {
		admins.Users = []string{directory.DemoAdmin}
	}
	admin := api.New(api.Options{Runs: run, Store: st, Admins: admins, GroupKey: run.GroupKey, Log: log, Registry: reg,
		Gate: &auth.Gate{Auth: authn, Throttle: throttle, TrustedProxies: cfg.Proxies, Log: log}})
	metricsToken, err := cfg.MetricsToken()
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           routes(srv, admin.HTTP(), st, reg, metricsToken),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout.Duration,
		WriteTimeout:      cfg.HTTP.WriteTimeout.Duration,
		IdleTimeout:       cfg.HTTP.IdleTimeout.Duration,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w (is another server on that port? pick one with --listen)", cfg.Listen, err)
	}
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	if w := cfg.PlainHTTPWarning(); w != "" {
		log.Warn(w)
	}
	for _, w := range cfg.ProxyWarnings() {
		log.Warn(w)
	}
	url := scheme + "://" + ln.Addr().String() + "/"
	sock, err := listenAdmin(cfg, log)
	if err != nil {
		return err
	}
	// The socket is this machine's admin door: whoever may open it (the
	// server's own user, mode 0600) is an admin.
	adminSrv := &http.Server{Handler: admin.Local(), ReadHeaderTimeout: 10 * time.Second}
	if sock != nil {
		go adminSrv.Serve(sock)
		defer adminSrv.Close()
	}
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen %s: %w (another server on that port? set metrics.listen, or --metrics-listen none)", cfg.Metrics.Listen, err)
		}
		ms := &http.Server{Handler: opsRoutes(st, reg), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
		go ms.Serve(mln)
		defer ms.Close()
		log.Info("metrics served", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	log.Info("orgdav serving", "url", url, "data", cfg.DataDir, "people", st.Stats().People)
	if len(cfg.Sources) == 0 {
		log.Info("demo login: add a CardDAV account with this server URL", "url", url, "user", "alice", "password", directory.DemoPassword)
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.TLS.CertFile != "" {
			errc <- hs.ServeTLS(ln, cfg.TLS.CertFile, cfg.TLS.KeyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
	case <-ctx.Done():
		log.Info("shutting down: finishing requests in flight")
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			log.Warn("shutdown did not finish cleanly", "err", err)
		}
	}
	log.Info("stopped")
	return nil
}

// heapLimit is the soft heap limit to serve under: memory.heap_limit_bytes,
// or twice the live heap (mostly the directory's index) and the render
// cache's budget when a large directory or cache needs more, since near
// its live heap the collector would run without pause. 0: leave the
// runtime's limit alone (none configured, or GOMEMLIMIT set by the
// operator).
func heapLimit(configured, cache int64) int64 {
	if configured <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	if live[0].Value.Kind() != metrics.KindUint64 {
		return max(configured, 2*cache)
	}
	return max(configured, 2*(int64(live[0].Value.Uint64())+cache))
}

// releaseMemory hands an import's garbage back to the system, so a large
// first import does not stay as resident memory. The first GC moves
// bbolt's pooled page buffers to the pool's victim cache, the second frees
// them.
func releaseMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// listenAdmin opens the admin socket in the data directory, readable only
// by this user; a stale socket from a crashed server is replaced.
func listenAdmin(cfg *config.Config, log *slog.Logger) (net.Listener, error) {
	path := socketPath(cfg)
	if len(path) > 100 {
		log.Warn("data directory path too long for the admin socket; orgdav sync/logs will not reach this server", "path", path)
		return nil, nil
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another orgdav serves %s (its admin socket answers)", cfg.DataDir)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
