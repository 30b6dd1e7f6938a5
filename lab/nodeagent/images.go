package nodeagent

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Programs are the lab's stand-ins for the images it knows, as paths on this machine.
type Programs struct {
	HTTPEcho string // for hashicorp/http-echo (cmd/http-echo)
	Agnhost  string // for the e2e-test-images agnhost image, built from the Kubernetes sources
	Busybox  string // for busybox: Debian's busybox, whose applets are its commands
}

// image is what the lab knows of one image: its entrypoint and default command, as in its
// manifest, and how a path in it maps to a program here.
type image struct {
	repo       string // repository path without registry host and tag
	entrypoint []string
	cmd        []string
	program    func(p Programs, argv0 string) (prefix []string, ok bool)
}

// knownImages are matched by the end of the repository path, so that any registry host and tag
// work.
var knownImages = []image{
	{
		repo: "hashicorp/http-echo", entrypoint: []string{"/http-echo"},
		program: single("http-echo", func(p Programs) string { return p.HTTPEcho }),
	},
	{
		repo: "e2e-test-images/agnhost", entrypoint: []string{"/agnhost"}, cmd: []string{"pause"},
		program: single("agnhost", func(p Programs) string { return p.Agnhost }),
	},
	{
		repo: "busybox", cmd: []string{"sh"},
		// Every command of the image is a busybox applet (sh, wget, sleep, ...).
		program: func(p Programs, argv0 string) ([]string, bool) {
			return []string{p.Busybox, path.Base(argv0)}, true
		},
	},
}

// single maps the image's one program, by its base name.
func single(name string, bin func(Programs) string) func(Programs, string) ([]string, bool) {
	return func(p Programs, argv0 string) ([]string, bool) {
		if path.Base(argv0) != name {
			return nil, false
		}
		return []string{bin(p)}, true
	}
}

// UnknownImageError is returned for an image the lab has no program for; the Pod shows it as
// ErrImagePull, as a kubelet shows an image it cannot pull.
type UnknownImageError struct{ Image string }

func (e *UnknownImageError) Error() string {
	known := make([]string, len(knownImages))
	for i, im := range knownImages {
		known[i] = im.repo
	}
	return fmt.Sprintf("image %q is not available in the lab: it runs only %s", e.Image, strings.Join(known, ", "))
}

// NoProgramError is returned when a container's command names a program its image lacks here.
type NoProgramError struct{ Image, Program string }

func (e *NoProgramError) Error() string {
	return fmt.Sprintf("%q: no such program in image %q in the lab", e.Program, e.Image)
}

// Argv returns the command line that runs a container of image with the Pod's command and args,
// with Kubernetes' rules: command replaces the entrypoint (and drops the default command), args
// replace the default command.
func Argv(ref string, command, args []string, p Programs) ([]string, error) {
	repo := repository(ref)
	i := slices.IndexFunc(knownImages, func(im image) bool {
		return repo == im.repo || strings.HasSuffix(repo, "/"+im.repo)
	})
	if i < 0 {
		return nil, &UnknownImageError{Image: ref}
	}
	im := knownImages[i]
	var argv []string
	switch {
	case len(command) > 0:
		argv = append(slices.Clone(command), args...)
	case len(args) > 0:
		argv = append(slices.Clone(im.entrypoint), args...)
	default:
		argv = append(slices.Clone(im.entrypoint), im.cmd...)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("image %q: the container has no command", ref)
	}
	prefix, ok := im.program(p, argv[0])
	if !ok {
		return nil, &NoProgramError{Image: ref, Program: argv[0]}
	}
	return append(prefix, argv[1:]...), nil
}

// repository strips the digest, the tag and a registry host (a first component with a dot or a
// colon, or localhost) from an image reference.
func repository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	if first, rest, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		ref = rest
	}
	return strings.TrimPrefix(ref, "library/")
}
