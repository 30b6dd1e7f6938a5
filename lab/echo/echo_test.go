package echo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    Config
		wantErr bool
	}{
		{name: "guide", args: []string{"-text=Hello from Kubernetes Service!"},
			want: Config{Text: "Hello from Kubernetes Service!", Listen: ":5678", StatusCode: 200}},
		{name: "listen and status", args: []string{"-text", "hi", "-listen=:8080", "-status-code=503"},
			want: Config{Text: "hi", Listen: ":8080", StatusCode: 503}},
		{name: "no text", args: []string{"-listen=:1"}, wantErr: true},
		{name: "bad status", args: []string{"-text=x", "-status-code=42"}, wantErr: true},
		{name: "unknown flag", args: []string{"-text=x", "-nope"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFlags(tc.args, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Errorf("(-want +got)\n%s", d)
				}
			}
		})
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{Text: "Hello from Kubernetes Service!", StatusCode: 200, Pod: "hello-1"}))
	defer srv.Close()
	for _, tc := range []struct{ path, want string }{
		{"/", "Hello from Kubernetes Service!\n"},
		{"/any/path", "Hello from Kubernetes Service!\n"},
		{"/health", `{"status":"ok"}` + "\n"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			b, _ := io.ReadAll(resp.Body)
			if d := cmp.Diff(tc.want, string(b)); d != "" || resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, body (-want +got)\n%s", resp.StatusCode, d)
			}
			if tc.path != "/health" && resp.Header.Get("X-Lab-Pod") != "hello-1" {
				t.Errorf("X-Lab-Pod = %q, want hello-1", resp.Header.Get("X-Lab-Pod"))
			}
		})
	}
}
