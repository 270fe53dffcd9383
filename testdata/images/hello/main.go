// Command hello is berth's test web server: it prints $MESSAGE (default
// "hello from berth") and serves it on :$PORT (default 8080) at /. /healthz
// answers ok until the server is made unhealthy, by a request to /fail or
// after $UNHEALTHY_AFTER (a Go duration), for liveness-probe tests. A
// request's ?delay= (a Go duration) holds its answer that long, to have
// requests in flight. On SIGTERM it prints "terminating", stops accepting
// connections, finishes the requests it has and exits 0, as a well-behaved
// container does.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	msg := env("MESSAGE", "hello from berth")
	port := env("PORT", "8080")
	var unhealthy atomic.Bool
	if d, err := time.ParseDuration(os.Getenv("UNHEALTHY_AFTER")); err == nil {
		time.AfterFunc(d, func() { unhealthy.Store(true) })
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("delay")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprintln(w, msg)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if unhealthy.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		unhealthy.Store(true)
		fmt.Fprintln(w, "now unhealthy")
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		fmt.Println("terminating")
		srv.Shutdown(context.Background())
	}()
	fmt.Println(msg)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	<-done // ListenAndServe returns at once; Shutdown waits for the requests
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
