package main

import (
	"slices"

	"github.com/frontdesk-lb/frontdesk/hack/images/build"
)

// conformanceImages are the images only Kubernetes' e2e tests use (test/conformance/README.md,
// "The images the selected tests use"), named as the pinned framework names them under the
// promoterE2eRegistry key of test/conformance/repo-list.yaml. `go run ./hack/images
// --conformance` (make conformance-images) builds them into their own folder; make images, the
// lab and make test never do. Tags are the framework's, although some contents differ in version
// (docs/images.md says which).
var conformanceImages = []build.Image{
	// The lab's busybox image, its layer unchanged, under the framework's name and tag: Debian's
	// busybox 1.35.0, not 1.37.0.
	variant("busybox", func(im *build.Image) {
		im.Name = "e2e-test-images/busybox"
		im.Tags = []build.Tag{build.Fixed("1.37.0-2")}
		im.Title = "busybox (e2e tag)"
		im.Description = "Debian's busybox-static with its applet links, under the tag Kubernetes' e2e framework asks for"
	}),
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
	// agnhost with the tools the tests exec in it (the upstream image has Alpine's): curl, dig,
	// nc (netcat-openbsd: -u -w -W -p), ss and ip (iproute2), bash, wget, getent, and porter's test
	// certificate and key in / (porter's default CERT_FILE and KEY_FILE, relative to /). It is
	// the lab's agnhost, its name, tag, layers and command unchanged, with the tools in a layer
	// above, so their nc and ip replace busybox's links, and /bin/sh is bash. Pushed to a lab's
	// registry, it replaces the lab's agnhost there (test/conformance).
	variant("e2e-test-images/agnhost", func(im *build.Image) {
		im.Title = "agnhost (with the e2e tests' tools)"
		im.Description = "Kubernetes' e2e test image: agnhost from the pinned Kubernetes on the busybox layer, with Debian's curl, dig, nc, ss, ip and bash"
		im.Layers = append(slices.Clip(im.Layers), build.Layer{
			build.Debian(append([]string{"curl", "netcat-openbsd", "iproute2", "bash", "bind9-dnsutils", "wget", "libc-bin"}, agnhostToolLibraries...),
				"/usr/bin/curl", "/bin/nc.openbsd", "/bin/ip", "/bin/ss", "/bin/bash", "/usr/bin/dig", "/usr/bin/wget", "/usr/bin/getent"),
			// The DNS tests' "musl" prober runs `getent hosts` here (Alpine's, upstream): glibc's,
			// with the files and dns NSS modules libc6 holds.
			build.Text("/etc/nsswitch.conf", "hosts: files dns\n"),
			// Debian's busybox 1.35 wget dies of SIGSEGV whenever -T (timeout) is given, and the
			// tests run `wget -T 5 -qO- <address>` and `wget -q -O - -T 1` in this image: GNU wget
			// replaces the applet's link.
			build.Symlink("/bin/wget", "/usr/bin/wget"),
			// busybox's wget tries once; GNU wget 20 times, waiting up to 10 s between: a test
			// that expects a connection to fail (loadBalancerSourceRanges) or loops 150 wgets
			// (verifyServeHostnameServiceUp) waited minutes to hours on it.
			build.Text("/etc/wgetrc", "tries = 1\n"),
			build.Symlink("/usr/bin/nc", "/bin/nc.openbsd"),
			build.Symlink("/bin/nc", "/bin/nc.openbsd"),
			build.Symlink("/sbin/ip", "/bin/ip"),
			// Debian's busybox sh runs its own applets before PATH (FEATURE_SH_STANDALONE): its
			// nc (no -u) would answer the tests' `/bin/sh -c "... nc -u ..."`. bash is /bin/sh here.
			build.Symlink("/bin/sh", "bash"),
			build.ModuleData(k8sTools, "k8s.io/kubernetes", "test/images/agnhost/porter/localhost.crt", "/localhost.crt"),
			build.ModuleData(k8sTools, "k8s.io/kubernetes", "test/images/agnhost/porter/localhost.key", "/localhost.key"),
		})
	}),
}

// variant is a copy of the lab's image of that name (images.go) changed by edit: a conformance
// image that stays what the lab image is but for what edit sets.
func variant(name string, edit func(*build.Image)) build.Image {
	i := slices.IndexFunc(images, func(im build.Image) bool { return im.Name == name })
	if i < 0 {
		panic("hack/images: no image " + name + " in the lab's set")
	}
	im := images[i]
	edit(&im)
	return im
}

// agnhostToolLibraries are the packages of the libraries of agnhost's tools: dig's, curl's, wget's,
// iproute2's (the build names any missing).
var agnhostToolLibraries = append([]string{
	"libcurl4", "libbrotli1", "libgnutls30", "libhogweed6", "libnettle8", "libgmp10", "libp11-kit0",
	"libtasn1-6", "libffi8", "libldap-2.5-0", "libsasl2-2", "libpsl5", "librtmp1", "libssh2-1",
	"libzstd1", "libdb5.3", "libbpf1", "libelf1", "libmnl0", "libselinux1", "libpcre2-8-0",
	"libtirpc3", "libxtables12", "libuuid1",
}, digLibraries...)

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
