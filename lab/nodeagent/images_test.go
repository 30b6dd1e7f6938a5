package nodeagent

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestArgv(t *testing.T) {
	p := Programs{HTTPEcho: "/lab/http-echo", Agnhost: "/k8s/agnhost", Busybox: "/bin/busybox"}
	for _, tc := range []struct {
		name          string
		image         string
		command, args []string
		want          []string
		wantErr       any
	}{
		{name: "guide's http-echo", image: "hashicorp/http-echo", args: []string{"-text=Hello from Kubernetes Service!"},
			want: []string{"/lab/http-echo", "-text=Hello from Kubernetes Service!"}},
		{name: "tag and host", image: "mirror.example:5000/hashicorp/http-echo:1.0", args: []string{"-text=x"},
			want: []string{"/lab/http-echo", "-text=x"}},
		{name: "agnhost default command", image: "example.org/e2e-test-images/agnhost:2.53",
			want: []string{"/k8s/agnhost", "pause"}},
		{name: "agnhost args", image: "example.org/e2e-test-images/agnhost:2.53", args: []string{"netexec", "--http-port=8080"},
			want: []string{"/k8s/agnhost", "netexec", "--http-port=8080"}},
		{name: "busybox default is sh", image: "busybox", want: []string{"/bin/busybox", "sh"}},
		{name: "busybox command", image: "docker.io/library/busybox:1.36", command: []string{"/bin/sh", "-c"}, args: []string{"sleep 1"},
			want: []string{"/bin/busybox", "sh", "-c", "sleep 1"}},
		{name: "busybox wget", image: "busybox@sha256:abcd", command: []string{"wget", "-qO-", "http://x"},
			want: []string{"/bin/busybox", "wget", "-qO-", "http://x"}},
		{name: "unknown image", image: "nginx:1.27", wantErr: new(*UnknownImageError)},
		{name: "suffix must be a whole component", image: "nothashicorp/http-echo", wantErr: new(*UnknownImageError)},
		{name: "no such program", image: "hashicorp/http-echo", command: []string{"sh"}, wantErr: new(*NoProgramError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Argv(tc.image, tc.command, tc.args, p)
			if tc.wantErr != nil {
				if !errors.As(err, tc.wantErr) {
					t.Fatalf("err = %v, want %T", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}
