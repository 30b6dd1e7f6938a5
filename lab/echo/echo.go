// Package echo is the lab's stand-in for the hashicorp/http-echo image: an HTTP server that
// answers every request with a fixed text, with the same flags (-text, -listen, -status-code),
// so that the Services guide's Deployment runs unchanged.
package echo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// DefaultListen is http-echo's default address.
const DefaultListen = ":5678"

// Config is what the flags set.
type Config struct {
	Text       string
	Listen     string
	StatusCode int
	// Pod, when set, is sent in an X-Lab-Pod header: a lab addition (the body stays http-echo's)
	// that lets a test see which Pod answered. The command fills it from $HOSTNAME, which the
	// lab node agent sets to the Pod's name as container runtimes do.
	Pod string
}

// ParseFlags reads http-echo's command line. -text is required, as in http-echo.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("http-echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Text, "text", "", "text to put in every response (required)")
	fs.StringVar(&c.Listen, "listen", DefaultListen, "address and port to listen on")
	fs.IntVar(&c.StatusCode, "status-code", http.StatusOK, "HTTP status code of the responses")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.Text == "" {
		return c, errors.New("-text is required: the text every response carries")
	}
	if http.StatusText(c.StatusCode) == "" {
		return c, fmt.Errorf("-status-code=%d is not an HTTP status code: want 100 to 599", c.StatusCode)
	}
	return c, nil
}

// Handler answers /health with {"status":"ok"} and everything else with the text and a newline.
func Handler(c Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-App-Name", "http-echo")
		if c.Pod != "" {
			w.Header().Set("X-Lab-Pod", c.Pod)
		}
		w.WriteHeader(c.StatusCode)
		_, _ = io.WriteString(w, c.Text+"\n")
	})
	return mux
}

// Serve listens on c.Listen and serves until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, c Config) error {
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: Handler(c), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shut)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
