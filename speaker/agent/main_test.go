package agent

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Main refuses to start, before opening any socket, when its options cannot work.
func TestMainRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
		is   error
	}{
		{name: "no node name", o: Options{LivenessKeyFile: "/nonexistent"}, want: "--node-name or the NODE_NAME"},
		{name: "BGP without an ASN", o: Options{NodeName: "n1", LivenessKeyFile: "/nonexistent", BGP: BGPOptions{Enabled: true}},
			want: "--bgp-asn is required with --bgp"},
		{name: "key file unreadable", o: Options{NodeName: "n1", LivenessKeyFile: filepath.Join(t.TempDir(), "missing")},
			want: "reading the heartbeat key", is: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Main(t.Context(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Main = %v, want an error containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Main = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}
