package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRun(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`
image: {registry: localhost}
controller: {controllers: [service, nodeport-usage]}
ipPools: [{name: lan, spec: {addresses: ["198.18.0.200-198.18.0.250"]}}]
l2Advertisements: [{name: lan, spec: {ipPools: [lan]}}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string // kind/name of each object, in order
		wantErr string
	}{
		{name: "frontdesk.dev objects", args: []string{"-f", values, "--kinds=IPPool,L2Advertisement"},
			want: []string{"IPPool/lan", "L2Advertisement/lan"}},
		{name: "accounts, release named", args: []string{"-f", values, "--release=lab", "--kinds=ServiceAccount"},
			want: []string{"ServiceAccount/lab-frontdesk-controller", "ServiceAccount/lab-frontdesk-speaker"}},
		{name: "schema refuses", args: []string{"-f", values, "-f", writeFile(t, "provider: gcp\n")}, wantErr: "provider"},
		{name: "registry required", args: []string{"-f", values, "-f", writeFile(t, "image: {registry: \"\"}\n")},
			wantErr: "image.registry is required"},
		{name: "stray argument", args: []string{"values.yaml"}, wantErr: "come with -f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(append([]string{"--chart=../../.."}, tc.args...), &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			docs, err := split(out.String())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, d["kind"].(string)+"/"+d["metadata"].(map[string]any)["name"].(string))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "more.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
