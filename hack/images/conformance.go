package main

import "github.com/frontdesk-lb/frontdesk/hack/images/build"

// conformanceImages are the images only Kubernetes' e2e tests use (test/conformance/README.md,
// "The images the selected tests use"), named as the pinned framework names them under the
// promoterE2eRegistry key of test/conformance/repo-list.yaml. `go run ./hack/images
// --conformance` (make conformance-images) builds them into their own folder; make images, the
// lab and make test never do. Tags are the framework's, although some contents differ in version
// (docs/images.md says which).
var conformanceImages = []build.Image{
	{
		// The busybox layer of the lab's busybox image, unchanged, under the framework's tag:
		// Debian's busybox 1.35.0, not 1.37.0.
		Name:        "e2e-test-images/busybox",
		Tags:        []build.Tag{build.Fixed("1.37.0-2")},
		Title:       "busybox (e2e tag)",
		Description: "Debian's busybox-static with its applet links, under the tag Kubernetes' e2e framework asks for",
		Layers:      []build.Layer{busybox},
		Cmd:         []string{"sh"},
		Labels:      map[string]string{"org.opencontainers.image.licenses": "GPL-2.0-only"},
	},
	{
		// The DNS tests' glibc prober: sh, seq (busybox), dig +search and getent hosts, through
		// glibc's resolver (libc6, whose libc.so.6 holds the files and dns NSS modules).
		Name:        "e2e-test-images/glibc-dns-testing",
		Tags:        []build.Tag{build.Fixed("2.1.1")},
		Title:       "glibc-dns-testing",
		Description: "the busybox layer with Debian's dig (bind9-dnsutils) and glibc's getent (libc-bin)",
		Layers: []build.Layer{busybox, {
			build.Debian(append([]string{"bind9-dnsutils", "libc-bin"}, digLibraries...), "/usr/bin/dig", "/usr/bin/getent"),
			build.Text("/etc/nsswitch.conf", "hosts: files dns\n"),
		}},
		Cmd: []string{"sh"},
	},
	{
		// Pods of the Endpoints and EndpointSlice tests: they must run and name their ports.
		Name:        "e2e-test-images/nginx",
		Tags:        []build.Tag{build.Fixed("1.27.0-2")},
		Title:       "nginx",
		Description: "Debian's nginx in the foreground on port 80, on the busybox layer",
		Layers: []build.Layer{busybox, {
			build.Debian([]string{"nginx", "nginx-common", "libpcre2-8-0", "libssl3", "zlib1g", "libcrypt1", "libc6"},
				"/usr/sbin/nginx", "/etc/nginx/mime.types"),
			build.Text("/etc/nginx/nginx.conf", nginxConf),
			build.Text("/usr/share/nginx/html/index.html", "<!DOCTYPE html>\n<html><body><h1>nginx</h1></body></html>\n"),
			// Debian's nginx opens its built-in error log and temporary folders before reading
			// the configuration.
			build.Dirs("/var/log/nginx", "/var/lib/nginx", "/run"),
		}},
		Entrypoint: []string{"nginx", "-g", "daemon off;"},
	},
	{
		Name:        "e2e-test-images/regression-issue-74839",
		Tags:        []build.Tag{build.ModuleFile(k8sTools, "k8s.io/kubernetes", "test/images/regression-issue-74839/VERSION")},
		Title:       "regression-issue-74839",
		Description: "Kubernetes' e2e test image: regression-issue-74839 from the pinned Kubernetes, on the busybox layer",
		Layers: []build.Layer{busybox, {
			build.Go(k8sTools, "k8s.io/kubernetes/test/images/regression-issue-74839", "/regression-issue-74839"),
		}},
		Entrypoint: []string{"/regression-issue-74839"},
	},
}

// digLibraries are the packages of the libraries Debian's dig loads (the build names any missing).
var digLibraries = []string{
	"bind9-libs", "libjemalloc2", "libuv1", "libssl3", "libxml2", "libicu72", "libstdc++6", "libgcc-s1",
	"liblzma5", "zlib1g", "libjson-c5", "libnghttp2-14", "liblmdb0", "libmaxminddb0", "libfstrm0",
	"libprotobuf-c1", "libidn2-0", "libunistring2", "libedit2", "libtinfo6", "libbsd0", "libmd0",
	"libgssapi-krb5-2", "libkrb5-3", "libk5crypto3", "libkrb5support0", "libcom-err2", "libkeyutils1",
	"libcap2", "libc6",
}

// nginxConf serves /usr/share/nginx/html on port 80, its workers as root (the image has no
// nobody account), logging to the container's output.
const nginxConf = `user root;
worker_processes 1;
error_log /dev/stderr notice;
pid /run/nginx.pid;
events { worker_connections 1024; }
http {
	include /etc/nginx/mime.types;
	access_log /dev/stdout;
	client_body_temp_path /var/lib/nginx/body;
	proxy_temp_path /var/lib/nginx/proxy;
	fastcgi_temp_path /var/lib/nginx/fastcgi;
	uwsgi_temp_path /var/lib/nginx/uwsgi;
	scgi_temp_path /var/lib/nginx/scgi;
	server {
		listen 80;
		listen [::]:80;
		root /usr/share/nginx/html;
	}
}
`
