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
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/orgdav/orgdav/carddav"
	"github.com/orgdav/orgdav/config"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML config file (default: built-in demo organisation)")
	listen := fs.String("listen", "", "listen address, e.g. 127.0.0.1:8080 (overrides the config)")
	data := fs.String("data", "", "data directory (overrides the config; default ./orgdav-data)")
	demoPeople := fs.Int("demo-people", 0, fmt.Sprintf("people in the demo directory (default %d)", directory.DefaultDemoPeople))
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	if *demoPeople != 0 {
		cfg.Demo.People = *demoPeople
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg.Log)
	rules, err := cfg.Rules()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "orgdav.db"), store.Options{
		Fingerprint: carddav.RenderFingerprint(rules),
		Retention:   cfg.Store.TombstoneRetention.Duration,
	})
	if err != nil {
		return err
	}
	defer st.Close()

	if err := applyDemo(log, st, cfg.Demo.People); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := carddav.New(st, rules, carddav.DemoAuth{Store: st, Password: directory.DemoPassword}, carddav.Options{
		CompanyBookName:  cfg.Books.CompanyName,
		PersonalBookName: cfg.Books.PersonalName,
		MaxRequestBytes:  cfg.HTTP.MaxRequestBytes,
		MaxCardBytes:     cfg.HTTP.MaxCardBytes,
		RenderCacheBytes: cfg.HTTP.RenderCacheBytes,
		Logger:           log,
		Registry:         reg,
	})
	hs := &http.Server{
		Handler:           carddav.Routes(srv, st, reg),
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
	url := scheme + "://" + ln.Addr().String() + "/"
	log.Info("orgdav serving", "url", url, "data", cfg.DataDir, "people", st.Stats().People)
	log.Info("demo login: add a CardDAV account with this server URL", "url", url, "user", "alice", "password", directory.DemoPassword)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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

// applyDemo publishes the demo organisation through the same normalise and
// apply path a directory source uses.
func applyDemo(log *slog.Logger, st *store.Store, people int) error {
	start := time.Now()
	pub, err := directory.Normalize(directory.Demo(people))
	if err != nil {
		return err
	}
	res, err := st.Apply(pub)
	if err != nil {
		return err
	}
	log.Info("demo directory applied", "people", len(pub.People), "groups", len(pub.Groups),
		"excluded", len(pub.Skipped), "added", res.Added, "updated", res.Updated, "removed", res.Removed,
		"unchanged", res.Unchanged, "took", time.Since(start).Round(time.Millisecond))
	// The snapshot is garbage now; hand its memory back so a large demo
	// does not keep the import's peak as resident memory. The first GC
	// moves bbolt's pooled page buffers to the pool's victim cache, the
	// second frees them.
	runtime.GC()
	debug.FreeOSMemory()
	return nil
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
